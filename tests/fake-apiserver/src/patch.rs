//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// Applies an RFC 7386 JSON merge patch in place.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Why an RFC 6902 patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonPatchError {
    /// A `test` operation did not match.
    TestFailed(String),
    /// The patch is malformed or refers to a missing location.
    Invalid(String),
}

/// Applies an RFC 6902 JSON patch (add, remove, replace, move, copy, test). All or nothing.
pub(crate) fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), JsonPatchError> {
    let invalid = |m: String| JsonPatchError::Invalid(m);
    let ops = ops
        .as_array()
        .ok_or_else(|| invalid("a JSON patch must be an array of operations".into()))?;
    let mut work = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        let field = |name: &str| -> Result<&str, JsonPatchError> {
            op.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("operation {i}: missing string field '{name}'")))
        };
        let value = || -> Result<Value, JsonPatchError> {
            op.get("value")
                .cloned()
                .ok_or_else(|| invalid(format!("operation {i}: missing field 'value'")))
        };
        let path = parse_pointer(field("path")?)?;
        match field("op")? {
            "add" => add(&mut work, &path, value()?)?,
            "remove" => {
                remove(&mut work, &path)?;
            }
            "replace" => {
                let target = pointer_mut(&mut work, &path)
                    .ok_or_else(|| invalid(format!("operation {i}: replace target does not exist")))?;
                *target = value()?;
            }
            "move" => {
                let from = parse_pointer(field("from")?)?;
                if path.len() > from.len() && path[..from.len()] == from[..] {
                    return Err(invalid(format!("operation {i}: cannot move a value into itself")));
                }
                let moved = remove(&mut work, &from)?;
                add(&mut work, &path, moved)?;
            }
            "copy" => {
                let from = parse_pointer(field("from")?)?;
                let copied = pointer(&work, &from)
                    .cloned()
                    .ok_or_else(|| invalid(format!("operation {i}: copy source does not exist")))?;
                add(&mut work, &path, copied)?;
            }
            "test" => {
                let expected = value()?;
                if pointer(&work, &path) != Some(&expected) {
                    return Err(JsonPatchError::TestFailed(format!(
                        "testing value {} failed",
                        field("path")?
                    )));
                }
            }
            other => return Err(invalid(format!("operation {i}: unsupported op '{other}'"))),
        }
    }
    *doc = work;
    Ok(())
}

fn parse_pointer(path: &str) -> Result<Vec<String>, JsonPatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| JsonPatchError::Invalid(format!("invalid JSON pointer '{path}'")))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if allow_end && token == "-" {
        return Some(len);
    }
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    let i: usize = token.parse().ok()?;
    let limit = if allow_end { len } else { len.saturating_sub(1) };
    (i <= limit && (allow_end || len > 0)).then_some(i)
}

fn pointer<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |cur, token| match cur {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token, items.len(), false)?),
        _ => None,
    })
}

fn pointer_mut<'a>(doc: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |cur, token| match cur {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            let i = array_index(token, items.len(), false)?;
            items.get_mut(i)
        }
        _ => None,
    })
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), JsonPatchError> {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    let missing = || JsonPatchError::Invalid(format!("add: parent of /{} does not exist", path.join("/")));
    match pointer_mut(doc, parent).ok_or_else(missing)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let i = array_index(last, items.len(), true).ok_or_else(missing)?;
            items.insert(i, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, JsonPatchError> {
    let missing = || JsonPatchError::Invalid(format!("remove: /{} does not exist", path.join("/")));
    let (last, parent) = path.split_last().ok_or_else(missing)?;
    match pointer_mut(doc, parent).ok_or_else(missing)? {
        Value::Object(map) => map.remove(last).ok_or_else(missing),
        Value::Array(items) => {
            let i = array_index(last, items.len(), false).ok_or_else(missing)?;
            Ok(items.remove(i))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_rfc7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut doc,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
        );
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}}));
        merge_patch(&mut doc, &json!([1]));
        assert_eq!(doc, json!([1]));
    }

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2, 3]});
        json_patch(
            &mut doc,
            &json!([
                {"op": "test", "path": "/metadata/labels/a", "value": "1"},
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "replace", "path": "/list/0", "value": 9},
                {"op": "remove", "path": "/list/1"},
                {"op": "add", "path": "/list/-", "value": 4},
                {"op": "copy", "from": "/list/0", "path": "/copied"},
                {"op": "move", "from": "/copied", "path": "/moved"},
            ]),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"a": "1", "b/c": "2"}}, "list": [9, 3, 4], "moved": 9})
        );
    }

    #[test]
    fn json_patch_failures_are_atomic() {
        let original = json!({"a": 1});
        let mut doc = original.clone();
        let err = json_patch(
            &mut doc,
            &json!([{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 2}]),
        );
        assert!(matches!(err, Err(JsonPatchError::TestFailed(_))));
        assert_eq!(doc, original);
        assert!(matches!(
            json_patch(&mut doc, &json!([{"op": "remove", "path": "/zz"}])),
            Err(JsonPatchError::Invalid(_))
        ));
        assert!(matches!(
            json_patch(&mut doc, &json!([{"op": "replace", "path": "/x/y", "value": 1}])),
            Err(JsonPatchError::Invalid(_))
        ));
        assert!(matches!(
            json_patch(&mut doc, &json!({"op": "add"})),
            Err(JsonPatchError::Invalid(_))
        ));
        assert!(matches!(
            json_patch(&mut doc, &json!([{"op": "frob", "path": "/a"}])),
            Err(JsonPatchError::Invalid(_))
        ));
    }
}

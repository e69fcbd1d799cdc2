//! Route53's REST-XML documents for the HTTP fake: the answers of the four operations the
//! provider uses and the error documents, written with `aws-smithy-xml`, and the
//! `ChangeResourceRecordSetsRequest` body, read with it.
//!
//! Element names and nesting follow the SDK's own (de)serializers
//! (`aws-sdk-route53/src/protocol_serde/shape_*.rs`): what the SDK writes is read here, and what
//! is written here is what the SDK reads.

use aws_sdk_route53::primitives::{DateTime, DateTimeFormat};
use aws_smithy_xml::decode::{Document, ScopedDecoder, XmlDecodeError, try_data};
use aws_smithy_xml::encode::{ScopeWriter, XmlWriter};

use crate::api::{
    ApiError, ChangeAction, ChangeInfo, ChangeStatus, HostedZonePage, RecordPage, WireAlias, WireChange,
    WireCidrRouting, WireGeoLocation, WireGeoProximity, WireRecordSet,
};

/// Route53's XML namespace.
pub(crate) const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// A request body the fake cannot use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// Not XML (or not UTF-8).
    #[error("the request body is not well-formed XML: {0}")]
    Malformed(#[from] XmlDecodeError),
    /// The root element is another one.
    #[error("expected a ChangeResourceRecordSetsRequest, found <{0}>")]
    Root(String),
    /// A required element is missing.
    #[error("<{parent}> has no <{element}>")]
    Missing {
        /// The element that lacks it.
        parent: &'static str,
        /// The missing element.
        element: &'static str,
    },
    /// An element's text is not a value of its type.
    #[error("<{element}> {value:?} is not {expected}")]
    Invalid {
        /// The element.
        element: &'static str,
        /// Its text.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

impl RequestError {
    /// The service's error code for it.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) | Self::Root(_) => "MalformedInput",
            Self::Missing { .. } | Self::Invalid { .. } => "InvalidInput",
        }
    }
}

/// A document with the root element `root` in Route53's namespace; `body` writes its children.
fn document(root: &str, body: impl FnOnce(&mut ScopeWriter<'_, '_>)) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n");
    let mut writer = XmlWriter::new(&mut out);
    let mut scope = writer.start_el(root).write_ns(NAMESPACE, None).finish();
    body(&mut scope);
    scope.finish();
    out
}

/// `<name>value</name>`.
fn text(scope: &mut ScopeWriter<'_, '_>, name: &str, value: &str) {
    scope.start_el(name).finish().data(value);
}

/// `<name>value</name>` when there is a value.
fn opt(scope: &mut ScopeWriter<'_, '_>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        text(scope, name, v);
    }
}

/// `<name>...</name>` with children written by `body`.
fn nested(scope: &mut ScopeWriter<'_, '_>, name: &str, body: impl FnOnce(&mut ScopeWriter<'_, '_>)) {
    let mut inner = scope.start_el(name).finish();
    body(&mut inner);
    inner.finish();
}

fn write_change_info(scope: &mut ScopeWriter<'_, '_>, info: &ChangeInfo) {
    nested(scope, "ChangeInfo", |s| {
        text(s, "Id", &info.id);
        text(
            s,
            "Status",
            match info.status {
                ChangeStatus::Pending => "PENDING",
                ChangeStatus::InSync => "INSYNC",
            },
        );
        // The fake keeps no submission time: the time of the answer stands in for it.
        let now = DateTime::from(std::time::SystemTime::now())
            .fmt(DateTimeFormat::DateTime)
            .unwrap_or_default();
        text(s, "SubmittedAt", &now);
    });
}

fn write_set(scope: &mut ScopeWriter<'_, '_>, w: &WireRecordSet) {
    nested(scope, "ResourceRecordSet", |s| {
        text(s, "Name", &w.name);
        text(s, "Type", &w.rtype);
        opt(s, "SetIdentifier", w.set_identifier.as_deref());
        opt(s, "Weight", w.weight.map(|v| v.to_string()).as_deref());
        opt(s, "Region", w.region.as_deref());
        if let Some(g) = &w.geo_location {
            nested(s, "GeoLocation", |s| {
                opt(s, "ContinentCode", g.continent_code.as_deref());
                opt(s, "CountryCode", g.country_code.as_deref());
                opt(s, "SubdivisionCode", g.subdivision_code.as_deref());
            });
        }
        opt(s, "Failover", w.failover.as_deref());
        opt(
            s,
            "MultiValueAnswer",
            w.multi_value_answer.map(|v| v.to_string()).as_deref(),
        );
        opt(s, "TTL", w.ttl.map(|v| v.to_string()).as_deref());
        if !w.values.is_empty() {
            nested(s, "ResourceRecords", |s| {
                for v in &w.values {
                    nested(s, "ResourceRecord", |s| text(s, "Value", v));
                }
            });
        }
        if let Some(a) = &w.alias {
            nested(s, "AliasTarget", |s| {
                text(s, "HostedZoneId", &a.hosted_zone_id);
                text(s, "DNSName", &a.dns_name);
                text(s, "EvaluateTargetHealth", &a.evaluate_target_health.to_string());
            });
        }
        opt(s, "HealthCheckId", w.health_check_id.as_deref());
        opt(
            s,
            "TrafficPolicyInstanceId",
            w.traffic_policy_instance_id.as_deref(),
        );
        if let Some(c) = &w.cidr_routing_config {
            nested(s, "CidrRoutingConfig", |s| {
                text(s, "CollectionId", &c.collection_id);
                text(s, "LocationName", &c.location_name);
            });
        }
        if let Some(g) = &w.geo_proximity_location {
            nested(s, "GeoProximityLocation", |s| {
                opt(s, "AWSRegion", g.aws_region.as_deref());
                opt(s, "LocalZoneGroup", g.local_zone_group.as_deref());
                if let Some((lat, lon)) = &g.coordinates {
                    nested(s, "Coordinates", |s| {
                        text(s, "Latitude", lat);
                        text(s, "Longitude", lon);
                    });
                }
                opt(s, "Bias", g.bias.map(|v| v.to_string()).as_deref());
            });
        }
    });
}

/// `ListHostedZonesByNameResponse`; `dns_name`, `hosted_zone_id` and `max_items` echo the request.
pub(crate) fn hosted_zones(
    page: &HostedZonePage,
    dns_name: Option<&str>,
    hosted_zone_id: Option<&str>,
    max_items: i32,
) -> String {
    document("ListHostedZonesByNameResponse", |s| {
        nested(s, "HostedZones", |s| {
            for z in &page.zones {
                nested(s, "HostedZone", |s| {
                    text(s, "Id", &format!("/hostedzone/{}", z.id));
                    text(s, "Name", &z.name);
                    text(s, "CallerReference", &format!("feddns-fake-{}", z.id));
                    nested(s, "Config", |s| text(s, "PrivateZone", &z.private.to_string()));
                });
            }
        });
        opt(s, "DNSName", dns_name);
        opt(s, "HostedZoneId", hosted_zone_id);
        text(s, "IsTruncated", &page.is_truncated.to_string());
        opt(s, "NextDNSName", page.next_dns_name.as_deref());
        opt(s, "NextHostedZoneId", page.next_hosted_zone_id.as_deref());
        text(s, "MaxItems", &max_items.to_string());
    })
}

/// `ListResourceRecordSetsResponse`; `max_items` echoes the request.
pub(crate) fn record_sets(page: &RecordPage, max_items: i32) -> String {
    document("ListResourceRecordSetsResponse", |s| {
        nested(s, "ResourceRecordSets", |s| {
            for set in &page.sets {
                write_set(s, set);
            }
        });
        text(s, "IsTruncated", &page.is_truncated.to_string());
        opt(s, "NextRecordName", page.next_name.as_deref());
        opt(s, "NextRecordType", page.next_type.as_deref());
        opt(s, "NextRecordIdentifier", page.next_identifier.as_deref());
        text(s, "MaxItems", &max_items.to_string());
    })
}

/// `ChangeResourceRecordSetsResponse` or `GetChangeResponse` (`root`).
pub(crate) fn change_info(root: &str, info: &ChangeInfo) -> String {
    document(root, |s| write_change_info(s, info))
}

/// The generic error document: `Sender` for 4xx, `Receiver` for 5xx.
pub(crate) fn error_response(e: &ApiError, request_id: &str) -> String {
    let receiver = e.status.is_some_and(|s| s >= 500);
    document("ErrorResponse", |s| {
        nested(s, "Error", |s| {
            text(s, "Type", if receiver { "Receiver" } else { "Sender" });
            text(s, "Code", e.code.as_deref().unwrap_or("InternalFailure"));
            text(s, "Message", &e.message);
        });
        text(s, "RequestId", request_id);
    })
}

/// `InvalidChangeBatch`'s own document, one `Message` per problem (as the API reference
/// documents it; the service has answered with [`error_response`] since 2024).
pub(crate) fn legacy_invalid_change_batch(messages: &[String], request_id: &str) -> String {
    document("InvalidChangeBatch", |s| {
        nested(s, "Messages", |s| {
            for m in messages {
                text(s, "Message", m);
            }
        });
        text(s, "RequestId", request_id);
    })
}

/// The element's text.
fn data(tag: &mut ScopedDecoder<'_, '_>) -> Result<String, RequestError> {
    Ok(try_data(tag)?.into_owned())
}

/// The element's text parsed as `T`.
fn parsed<T: std::str::FromStr>(
    tag: &mut ScopedDecoder<'_, '_>,
    element: &'static str,
    expected: &'static str,
) -> Result<T, RequestError> {
    let value = data(tag)?;
    value.trim().parse().map_err(|_| RequestError::Invalid {
        element,
        value,
        expected,
    })
}

fn required<T>(v: Option<T>, parent: &'static str, element: &'static str) -> Result<T, RequestError> {
    v.ok_or(RequestError::Missing { parent, element })
}

/// Reads a `ChangeResourceRecordSetsRequest` body (the batch's `Comment` is ignored).
pub(crate) fn parse_change_request(body: &[u8]) -> Result<Vec<WireChange>, RequestError> {
    let mut doc = Document::try_from(body)?;
    let mut root = doc.root_element()?;
    if !root.start_el().matches("ChangeResourceRecordSetsRequest") {
        return Err(RequestError::Root(root.start_el().local().to_string()));
    }
    let mut changes = None;
    while let Some(mut batch) = root.next_tag() {
        if !batch.start_el().matches("ChangeBatch") {
            continue;
        }
        while let Some(mut list) = batch.next_tag() {
            if !list.start_el().matches("Changes") {
                continue;
            }
            let mut found = Vec::new();
            while let Some(mut change) = list.next_tag() {
                if change.start_el().matches("Change") {
                    found.push(read_change(&mut change)?);
                }
            }
            changes = Some(found);
        }
    }
    required(changes, "ChangeBatch", "Changes")
}

fn read_change(tag: &mut ScopedDecoder<'_, '_>) -> Result<WireChange, RequestError> {
    let (mut action, mut set) = (None, None);
    while let Some(mut t) = tag.next_tag() {
        match t.start_el().local() {
            "Action" => {
                let value = data(&mut t)?;
                action = Some(match value.as_str() {
                    "CREATE" => ChangeAction::Create,
                    "DELETE" => ChangeAction::Delete,
                    "UPSERT" => ChangeAction::Upsert,
                    _ => {
                        return Err(RequestError::Invalid {
                            element: "Action",
                            value,
                            expected: "CREATE, DELETE or UPSERT",
                        });
                    }
                });
            }
            "ResourceRecordSet" => set = Some(read_set(&mut t)?),
            _ => {}
        }
    }
    Ok(WireChange {
        action: required(action, "Change", "Action")?,
        set: required(set, "Change", "ResourceRecordSet")?,
    })
}

fn read_set(tag: &mut ScopedDecoder<'_, '_>) -> Result<WireRecordSet, RequestError> {
    let mut w = WireRecordSet::default();
    let (mut name, mut rtype) = (None, None);
    while let Some(mut t) = tag.next_tag() {
        match t.start_el().local() {
            "Name" => name = Some(data(&mut t)?),
            "Type" => rtype = Some(data(&mut t)?),
            "SetIdentifier" => w.set_identifier = Some(data(&mut t)?),
            "Weight" => w.weight = Some(parsed(&mut t, "Weight", "an integer")?),
            "Region" => w.region = Some(data(&mut t)?),
            "GeoLocation" => w.geo_location = Some(read_geo_location(&mut t)?),
            "Failover" => w.failover = Some(data(&mut t)?),
            "MultiValueAnswer" => {
                w.multi_value_answer = Some(parsed(&mut t, "MultiValueAnswer", "true or false")?);
            }
            "TTL" => w.ttl = Some(parsed(&mut t, "TTL", "an integer")?),
            "ResourceRecords" => {
                while let Some(mut record) = t.next_tag() {
                    if !record.start_el().matches("ResourceRecord") {
                        continue;
                    }
                    let mut value = None;
                    while let Some(mut v) = record.next_tag() {
                        if v.start_el().matches("Value") {
                            value = Some(data(&mut v)?);
                        }
                    }
                    w.values.push(required(value, "ResourceRecord", "Value")?);
                }
            }
            "AliasTarget" => w.alias = Some(read_alias(&mut t)?),
            "HealthCheckId" => w.health_check_id = Some(data(&mut t)?),
            "TrafficPolicyInstanceId" => w.traffic_policy_instance_id = Some(data(&mut t)?),
            "CidrRoutingConfig" => w.cidr_routing_config = Some(read_cidr(&mut t)?),
            "GeoProximityLocation" => w.geo_proximity_location = Some(read_geo_proximity(&mut t)?),
            _ => {}
        }
    }
    w.name = required(name, "ResourceRecordSet", "Name")?;
    w.rtype = required(rtype, "ResourceRecordSet", "Type")?;
    Ok(w)
}

fn read_geo_location(tag: &mut ScopedDecoder<'_, '_>) -> Result<WireGeoLocation, RequestError> {
    let mut g = WireGeoLocation::default();
    while let Some(mut t) = tag.next_tag() {
        match t.start_el().local() {
            "ContinentCode" => g.continent_code = Some(data(&mut t)?),
            "CountryCode" => g.country_code = Some(data(&mut t)?),
            "SubdivisionCode" => g.subdivision_code = Some(data(&mut t)?),
            _ => {}
        }
    }
    Ok(g)
}

fn read_alias(tag: &mut ScopedDecoder<'_, '_>) -> Result<WireAlias, RequestError> {
    let (mut zone, mut name, mut health) = (None, None, None);
    while let Some(mut t) = tag.next_tag() {
        match t.start_el().local() {
            "HostedZoneId" => zone = Some(data(&mut t)?),
            "DNSName" => name = Some(data(&mut t)?),
            "EvaluateTargetHealth" => {
                health = Some(parsed(&mut t, "EvaluateTargetHealth", "true or false")?);
            }
            _ => {}
        }
    }
    Ok(WireAlias {
        hosted_zone_id: required(zone, "AliasTarget", "HostedZoneId")?,
        dns_name: required(name, "AliasTarget", "DNSName")?,
        evaluate_target_health: required(health, "AliasTarget", "EvaluateTargetHealth")?,
    })
}

fn read_cidr(tag: &mut ScopedDecoder<'_, '_>) -> Result<WireCidrRouting, RequestError> {
    let (mut collection, mut location) = (None, None);
    while let Some(mut t) = tag.next_tag() {
        match t.start_el().local() {
            "CollectionId" => collection = Some(data(&mut t)?),
            "LocationName" => location = Some(data(&mut t)?),
            _ => {}
        }
    }
    Ok(WireCidrRouting {
        collection_id: required(collection, "CidrRoutingConfig", "CollectionId")?,
        location_name: required(location, "CidrRoutingConfig", "LocationName")?,
    })
}

fn read_geo_proximity(tag: &mut ScopedDecoder<'_, '_>) -> Result<WireGeoProximity, RequestError> {
    let mut g = WireGeoProximity::default();
    while let Some(mut t) = tag.next_tag() {
        match t.start_el().local() {
            "AWSRegion" => g.aws_region = Some(data(&mut t)?),
            "LocalZoneGroup" => g.local_zone_group = Some(data(&mut t)?),
            "Bias" => g.bias = Some(parsed(&mut t, "Bias", "an integer")?),
            "Coordinates" => {
                let (mut lat, mut lon) = (None, None);
                while let Some(mut c) = t.next_tag() {
                    match c.start_el().local() {
                        "Latitude" => lat = Some(data(&mut c)?),
                        "Longitude" => lon = Some(data(&mut c)?),
                        _ => {}
                    }
                }
                g.coordinates = Some((
                    required(lat, "Coordinates", "Latitude")?,
                    required(lon, "Coordinates", "Longitude")?,
                ));
            }
            _ => {}
        }
    }
    Ok(g)
}

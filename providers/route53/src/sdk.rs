//! [`SdkApi`]: the Route53 API through `aws-sdk-route53`.
//!
//! The HTTP client is hyper 1 over rustls with the ring crypto provider (plain `http://` URLs
//! work too, for moto). Credentials come from aws-config's default chain (environment, profile,
//! web identity / IRSA, ECS, IMDS) unless given explicitly. The SDK's own retries are off: the
//! provider retries reads itself and the controller's applier retries batches, so counters and
//! the rate limit see every request.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::{ErrorKind, RetryConfig};
use aws_config::timeout::TimeoutConfig;
use aws_sdk_route53::Client;
use aws_sdk_route53::config::{Credentials, Region};
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types as sdk;
use aws_smithy_http_client::tls;
use aws_smithy_xml::decode::{Document, try_data};

use crate::api::{
    ApiError, ApiErrorKind, ChangeAction, ChangeInfo, ChangeStatus, HostedZone, HostedZonePage, Operation,
    RecordPage, RecordPageStart, Route53Api, WireAlias, WireChange, WireCidrRouting, WireGeoLocation,
    WireGeoProximity, WireRecordSet,
};
use crate::config::Route53Config;

/// The region used when neither the configuration nor the AWS default chain names one
/// (Route53 is global; the region only selects the signing region and partition).
pub const DEFAULT_REGION: &str = "us-east-1";

/// [`Route53Api`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkApi {
    client: Client,
}

impl SdkApi {
    /// A client from the configuration's endpoint and region and the default credential chain.
    pub async fn from_config(cfg: &Route53Config) -> Self {
        Self::load(cfg, None).await
    }

    /// A client with fixed credentials (tests against moto; static keys).
    pub async fn with_credentials(cfg: &Route53Config, credentials: Credentials) -> Self {
        Self::load(cfg, Some(credentials)).await
    }

    /// Wraps a client built elsewhere.
    pub fn from_client(client: Client) -> Self {
        Self { client }
    }

    /// The underlying SDK client (for calls outside [`Route53Api`], such as creating a zone in
    /// tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn load(cfg: &Route53Config, credentials: Option<Credentials>) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        // The loader's own default chains (region and credentials: env, profile, web identity,
        // ECS, IMDS) use its HTTP client; chains built outside it would not.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(region) = &cfg.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &cfg.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        }
        let conf = loader.load().await;
        let mut builder = aws_sdk_route53::config::Builder::from(&conf);
        if conf.region().is_none() {
            builder = builder.region(Region::new(DEFAULT_REGION));
        }
        Self {
            client: Client::from_conf(builder.build()),
        }
    }
}

/// Converts an SDK error; `detail` may supply a better message from the modelled error.
fn convert<E>(op: Operation, e: &SdkError<E>, detail: impl FnOnce(&E) -> Option<String>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let full = || DisplayErrorContext(e).to_string();
    match e {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            // The SDK finds no code in InvalidChangeBatch's own document: read it here.
            let legacy = err
                .code()
                .is_none()
                .then(|| ctx.raw().body().bytes().and_then(legacy_invalid_change_batch))
                .flatten();
            let (code, message) = match legacy {
                Some(messages) => (
                    Some("InvalidChangeBatch".to_string()),
                    format!("[{}]", messages.join(", ")),
                ),
                None => (
                    err.code().map(str::to_string),
                    detail(err)
                        .or_else(|| err.message().map(str::to_string))
                        .unwrap_or_else(full),
                ),
            };
            ApiError {
                operation: op,
                kind: ApiErrorKind::Service,
                code,
                message,
                status: Some(ctx.raw().status().as_u16()),
            }
        }
        SdkError::TimeoutError(_) => ApiError::client(op, ApiErrorKind::Timeout, full()),
        SdkError::DispatchFailure(d) if d.is_timeout() => ApiError::client(op, ApiErrorKind::Timeout, full()),
        // A connection closed before the answer is `Other(TransientError)`, not IO: retryable too.
        SdkError::DispatchFailure(d) if d.is_io() || d.as_other() == Some(ErrorKind::TransientError) => {
            ApiError::client(op, ApiErrorKind::Dispatch, full())
        }
        SdkError::DispatchFailure(_) => ApiError::client(op, ApiErrorKind::Client, full()),
        SdkError::ResponseError(r) => ApiError {
            operation: op,
            kind: ApiErrorKind::Response,
            code: None,
            message: full(),
            status: Some(r.raw().status().as_u16()),
        },
        SdkError::ConstructionFailure(_) => ApiError::client(op, ApiErrorKind::Construction, full()),
        _ => ApiError::client(op, ApiErrorKind::Client, full()),
    }
}

/// The messages of `InvalidChangeBatch`'s own error document,
/// `<InvalidChangeBatch><Messages><Message>...</Message></Messages></InvalidChangeBatch>`, as
/// Route53's API reference documents it and as the service used to answer (it answers with an
/// `<ErrorResponse>` now: the AWS SDK for Kotlin dropped its special case in 2024). This SDK
/// expects `<ErrorResponse>` and finds no error code in it. `None` for any other body.
fn legacy_invalid_change_batch(body: &[u8]) -> Option<Vec<String>> {
    let mut doc = Document::try_from(body).ok()?;
    let mut root = doc.root_element().ok()?;
    if !root.start_el().matches("InvalidChangeBatch") {
        return None;
    }
    let mut messages = Vec::new();
    while let Some(mut tag) = root.next_tag() {
        match tag.start_el().local() {
            "Messages" => {
                while let Some(mut m) = tag.next_tag() {
                    if m.start_el().matches("Message") {
                        messages.push(try_data(&mut m).ok()?.into_owned());
                    }
                }
            }
            "Message" => messages.push(try_data(&mut tag).ok()?.into_owned()),
            _ => {}
        }
    }
    Some(messages)
}

fn strip_zone_prefix(id: &str) -> String {
    id.strip_prefix("/hostedzone/").unwrap_or(id).to_string()
}

fn status(s: &sdk::ChangeStatus) -> ChangeStatus {
    if *s == sdk::ChangeStatus::Insync {
        ChangeStatus::InSync
    } else {
        ChangeStatus::Pending
    }
}

fn from_sdk_set(s: &sdk::ResourceRecordSet) -> WireRecordSet {
    WireRecordSet {
        name: s.name().to_string(),
        rtype: s.r#type().as_str().to_string(),
        set_identifier: s.set_identifier().map(str::to_string),
        ttl: s.ttl(),
        values: s
            .resource_records()
            .iter()
            .map(|r| r.value().to_string())
            .collect(),
        weight: s.weight(),
        region: s.region().map(|r| r.as_str().to_string()),
        alias: s.alias_target().map(|a| WireAlias {
            hosted_zone_id: a.hosted_zone_id().to_string(),
            dns_name: a.dns_name().to_string(),
            evaluate_target_health: a.evaluate_target_health(),
        }),
        health_check_id: s.health_check_id().map(str::to_string),
        failover: s.failover().map(|f| f.as_str().to_string()),
        geo_location: s.geo_location().map(|g| WireGeoLocation {
            continent_code: g.continent_code().map(str::to_string),
            country_code: g.country_code().map(str::to_string),
            subdivision_code: g.subdivision_code().map(str::to_string),
        }),
        geo_proximity_location: s.geo_proximity_location().map(|g| WireGeoProximity {
            aws_region: g.aws_region().map(str::to_string),
            local_zone_group: g.local_zone_group().map(str::to_string),
            coordinates: g
                .coordinates()
                .map(|c| (c.latitude().to_string(), c.longitude().to_string())),
            bias: g.bias(),
        }),
        multi_value_answer: s.multi_value_answer(),
        cidr_routing_config: s.cidr_routing_config().map(|c| WireCidrRouting {
            collection_id: c.collection_id().to_string(),
            location_name: c.location_name().to_string(),
        }),
        traffic_policy_instance_id: s.traffic_policy_instance_id().map(str::to_string),
    }
}

fn to_sdk_change(c: &WireChange) -> Result<sdk::Change, String> {
    let s = &c.set;
    let mut b = sdk::ResourceRecordSet::builder()
        .name(&s.name)
        .r#type(sdk::RrType::from(s.rtype.as_str()))
        .set_set_identifier(s.set_identifier.clone())
        .set_ttl(s.ttl)
        .set_weight(s.weight)
        .set_region(s.region.as_deref().map(sdk::ResourceRecordSetRegion::from))
        .set_health_check_id(s.health_check_id.clone())
        .set_failover(s.failover.as_deref().map(sdk::ResourceRecordSetFailover::from))
        .set_multi_value_answer(s.multi_value_answer)
        .set_traffic_policy_instance_id(s.traffic_policy_instance_id.clone());
    for v in &s.values {
        b = b.resource_records(
            sdk::ResourceRecord::builder()
                .value(v)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(a) = &s.alias {
        b = b.alias_target(
            sdk::AliasTarget::builder()
                .hosted_zone_id(&a.hosted_zone_id)
                .dns_name(&a.dns_name)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(g) = &s.geo_location {
        b = b.geo_location(
            sdk::GeoLocation::builder()
                .set_continent_code(g.continent_code.clone())
                .set_country_code(g.country_code.clone())
                .set_subdivision_code(g.subdivision_code.clone())
                .build(),
        );
    }
    if let Some(g) = &s.geo_proximity_location {
        let coordinates = match &g.coordinates {
            Some((lat, lon)) => Some(
                sdk::Coordinates::builder()
                    .latitude(lat)
                    .longitude(lon)
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        b = b.geo_proximity_location(
            sdk::GeoProximityLocation::builder()
                .set_aws_region(g.aws_region.clone())
                .set_local_zone_group(g.local_zone_group.clone())
                .set_coordinates(coordinates)
                .set_bias(g.bias)
                .build(),
        );
    }
    if let Some(cidr) = &s.cidr_routing_config {
        b = b.cidr_routing_config(
            sdk::CidrRoutingConfig::builder()
                .collection_id(&cidr.collection_id)
                .location_name(&cidr.location_name)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    let action = match c.action {
        ChangeAction::Create => sdk::ChangeAction::Create,
        ChangeAction::Delete => sdk::ChangeAction::Delete,
        ChangeAction::Upsert => sdk::ChangeAction::Upsert,
    };
    sdk::Change::builder()
        .action(action)
        .resource_record_set(b.build().map_err(|e| e.to_string())?)
        .build()
        .map_err(|e| e.to_string())
}

#[async_trait::async_trait]
impl Route53Api for SdkApi {
    async fn list_hosted_zones_by_name(
        &self,
        dns_name: Option<&str>,
        hosted_zone_id: Option<&str>,
        max_items: i32,
    ) -> Result<HostedZonePage, ApiError> {
        let op = Operation::ListHostedZonesByName;
        let out = self
            .client
            .list_hosted_zones_by_name()
            .set_dns_name(dns_name.map(str::to_string))
            .set_hosted_zone_id(hosted_zone_id.map(str::to_string))
            .max_items(max_items)
            .send()
            .await
            .map_err(|e| convert(op, &e, |_| None))?;
        Ok(HostedZonePage {
            zones: out
                .hosted_zones()
                .iter()
                .map(|z| HostedZone {
                    id: strip_zone_prefix(z.id()),
                    name: z.name().to_string(),
                    private: z.config().is_some_and(sdk::HostedZoneConfig::private_zone),
                })
                .collect(),
            is_truncated: out.is_truncated(),
            next_dns_name: out.next_dns_name().map(str::to_string),
            next_hosted_zone_id: out.next_hosted_zone_id().map(strip_zone_prefix),
        })
    }

    async fn list_resource_record_sets(
        &self,
        zone_id: &str,
        start: &RecordPageStart,
        max_items: i32,
    ) -> Result<RecordPage, ApiError> {
        let op = Operation::ListResourceRecordSets;
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .set_start_record_name(start.name.clone())
            .set_start_record_type(start.rtype.as_deref().map(sdk::RrType::from))
            .set_start_record_identifier(start.identifier.clone())
            .max_items(max_items)
            .send()
            .await
            .map_err(|e| convert(op, &e, |_| None))?;
        Ok(RecordPage {
            sets: out.resource_record_sets().iter().map(from_sdk_set).collect(),
            is_truncated: out.is_truncated(),
            next_name: out.next_record_name().map(str::to_string),
            next_type: out.next_record_type().map(|t| t.as_str().to_string()),
            next_identifier: out.next_record_identifier().map(str::to_string),
        })
    }

    async fn change_resource_record_sets(
        &self,
        zone_id: &str,
        changes: &[WireChange],
    ) -> Result<ChangeInfo, ApiError> {
        let op = Operation::ChangeResourceRecordSets;
        let built: Result<Vec<sdk::Change>, String> = changes.iter().map(to_sdk_change).collect();
        let batch = built
            .and_then(|c| {
                sdk::ChangeBatch::builder()
                    .set_changes(Some(c))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| ApiError::client(op, ApiErrorKind::Construction, e))?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| {
                convert(op, &e, |err| match err {
                    ChangeResourceRecordSetsError::InvalidChangeBatch(icb) if !icb.messages().is_empty() => {
                        let mut all: Vec<&str> = icb.messages().iter().map(String::as_str).collect();
                        if let Some(m) = icb.message() {
                            all.insert(0, m);
                        }
                        Some(format!("[{}]", all.join(", ")))
                    }
                    _ => None,
                })
            })?;
        let info = out.change_info().ok_or_else(|| {
            ApiError::client(op, ApiErrorKind::Response, "the answer carries no ChangeInfo")
        })?;
        Ok(ChangeInfo {
            id: info.id().to_string(),
            status: status(info.status()),
        })
    }

    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ApiError> {
        let op = Operation::GetChange;
        let out = self
            .client
            .get_change()
            .id(change_id)
            .send()
            .await
            .map_err(|e| convert(op, &e, |_| None))?;
        let info = out.change_info().ok_or_else(|| {
            ApiError::client(op, ApiErrorKind::Response, "the answer carries no ChangeInfo")
        })?;
        Ok(ChangeInfo {
            id: info.id().to_string(),
            status: status(info.status()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::legacy_invalid_change_batch;

    #[test]
    fn invalid_change_batch_documents_are_read_message_by_message() {
        let doc = br#"<?xml version="1.0"?>
<InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <Messages>
    <Message>Tried to create resource record set [name='a.example.com.', type='A'] but it already exists</Message>
    <Message>RRSet with DNS name b&amp;c.example.com. is not permitted in zone example.com.</Message>
  </Messages>
  <RequestId>b25f48e8-84fd-11e6-80d9-574e0c4664cb</RequestId>
</InvalidChangeBatch>"#;
        assert_eq!(
            legacy_invalid_change_batch(doc).unwrap(),
            [
                "Tried to create resource record set [name='a.example.com.', type='A'] but it already exists",
                "RRSet with DNS name b&c.example.com. is not permitted in zone example.com.",
            ]
        );
        let generic = br#"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidInput</Code><Message>no</Message></Error></ErrorResponse>"#;
        assert_eq!(legacy_invalid_change_batch(generic), None);
        assert_eq!(legacy_invalid_change_batch(b"not xml"), None);
    }
}

//! ApiVersions: the advertised table, derived from `strata_wire::SUPPORTED_APIS`.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiVersionsResponse;

pub(crate) fn handle(_version: i16) -> ApiVersionsResponse {
    let api_keys = strata_wire::SUPPORTED_APIS
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(api_keys)
        .with_finalized_features_epoch(-1)
}

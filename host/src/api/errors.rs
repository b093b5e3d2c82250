//! JSON errors, and the JSON body extractor that names the field at fault.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, and where.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code: `unauthorized`, `forbidden`, `not_found`,
    /// `invalid_json`, `unknown_field`, `missing_field`, `invalid_value`,
    /// `payload_too_large`, `unsupported_media_type`, `wrong_state`, …
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The JSON path (`person.age`), header, path segment or rule at fault.
    pub field: Option<String>,
}

/// An error response.
#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// An error with a status, code, message and field.
    pub fn new(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    code: code.to_string(),
                    message: crate::text::escape(&crate::text::cap(message, 4096)).into_owned(),
                    field: field.map(str::to_string),
                },
            },
        }
    }

    /// A 500: logged in full, shown briefly.
    pub fn internal(e: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("internal error: {e}"),
            None,
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message (escaped).
    pub fn message(&self) -> &str {
        &self.body.error.message
    }

    /// The error's code, message and field.
    pub fn detail(&self) -> &ErrorDetail {
        &self.body.error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A 400 naming a field.
pub fn field_error(field: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_value",
        message,
        Some(field),
    )
}

/// Requires the request's content type (its essence, parameters ignored).
pub fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    require_content_types(headers, &[expected])
}

/// Requires one of the content types.
pub fn require_content_types(headers: &HeaderMap, allowed: &[&str]) -> Result<(), ApiError> {
    let expected = allowed.join(" or ");
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match given.as_deref() {
        Some(g) if allowed.contains(&g) => Ok(()),
        Some(g) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &format!("Content-Type must be {expected}, not {g}"),
            Some("content-type"),
        )),
        None => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &format!("Content-Type {expected} is required"),
            Some("content-type"),
        )),
    }
}

/// How much of a refused body is still read (and thrown away) so that the
/// client, still sending, gets the error instead of a reset connection.
pub const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// Reads and discards what is left of a body, up to [`DRAIN_CAP`] bytes.
pub async fn drain(body: axum::body::Body) {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            seen += data.len();
            if seen > DRAIN_CAP {
                break;
            }
        }
    }
}

/// Reads a body of at most `limit` bytes (413 beyond, after draining the
/// rest so that the client reads the answer).
pub async fn read_body(request: Request, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the body is larger than {limit} bytes"),
            Some("body"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = request.into_body();
    if declared.is_some_and(|length| length > limit as u64) {
        drain(body).await;
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared.map_or(0, |d| d as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                &format!("reading the body: {e}"),
                Some("body"),
            )
        })?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > limit {
                drain(body).await;
                return Err(too_large());
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(axum::body::Bytes::from(bytes))
}

/// A JSON body: `Content-Type: application/json`, at most
/// [`super::MAX_JSON_BYTES`], unknown fields refused, and every error naming
/// the JSON path at fault.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<JsonBody<T>, ApiError> {
        if let Err(e) = require_content_type(request.headers(), "application/json") {
            drain(request.into_body()).await;
            return Err(e);
        }
        let bytes = read_body(request, super::MAX_JSON_BYTES).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON text into `T`, naming the path of the first problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // The common case, a valid body, without tracking the path; only a
    // body that fails is parsed again to name where (same parser, same
    // verdict).
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = match parsed {
        Ok(value) => value,
        Err(e) => return Err(json_error(&e)),
    };
    deserializer.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            &format!("trailing characters after the JSON value: {e}"),
            None,
        )
    })?;
    Ok(value)
}

fn json_error(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = e.inner();
    // `?` marks a segment the parser had not named yet (a syntax error
    // inside an object): the path up to it is where the error is.
    let path = e.path().to_string().replace(".?", "");
    let path = (path != "." && path != "?").then_some(path);
    let message = inner.to_string();
    use serde_json::error::Category;
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            &format!("malformed JSON: {message}"),
            path.as_deref(),
        ),
        Category::Data => {
            // serde names the offending key between backticks.
            let named = message.split('`').nth(1).map(str::to_string).filter(|_| {
                message.starts_with("unknown field") || message.starts_with("missing field")
            });
            let (code, field) = match &named {
                Some(name) if message.starts_with("unknown field") => {
                    ("unknown_field", Some(join(path.as_deref(), name)))
                }
                Some(name) => ("missing_field", Some(join(path.as_deref(), name))),
                None => ("invalid_value", path.clone()),
            };
            ApiError::new(StatusCode::BAD_REQUEST, code, &message, field.as_deref())
        }
    }
}

fn join(path: Option<&str>, name: &str) -> String {
    match path {
        // The path already ends at the key (serde_path_to_error does that
        // for unknown fields).
        Some(p) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
        Some(p) => format!("{p}.{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        person: crate::model::Person,
    }

    fn error_of(json: &str) -> (String, Option<String>) {
        match parse_json::<Body>(json.as_bytes()) {
            Ok(_) => (String::from("ok"), None),
            Err(e) => (e.body.error.code, e.body.error.field),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let p = r#""hukou":"local","ability":"intact","assistance":"none","disability":"none""#;
        assert_eq!(
            error_of(&format!(r#"{{"person":{{"age":92,{p},"name":"x"}}}}"#)),
            ("unknown_field".into(), Some("person.name".into()))
        );
        assert_eq!(
            error_of(&format!(r#"{{"person":{{"age":92,{p}}},"extra":1}}"#)),
            ("unknown_field".into(), Some("extra".into()))
        );
        assert_eq!(
            error_of(
                r#"{"person":{"age":92,"hukou":"local","ability":"foo","assistance":"none","disability":"none"}}"#
            ),
            ("invalid_value".into(), Some("person.ability".into()))
        );
        assert_eq!(
            error_of(
                r#"{"person":{"hukou":"local","ability":"intact","assistance":"none","disability":"none"}}"#
            ),
            ("missing_field".into(), Some("person.age".into()))
        );
        assert_eq!(
            error_of(&format!(r#"{{"person":{{"age":"old",{p}}}}}"#)),
            ("invalid_value".into(), Some("person.age".into()))
        );
        assert_eq!(error_of(r#"{"person":"#).0, "invalid_json");
        assert_eq!(
            error_of(&format!(r#"{{"person":{{"age":92,{p}}}}} x"#)).0,
            "invalid_json"
        );
    }
}

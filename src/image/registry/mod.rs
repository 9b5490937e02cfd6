//! A client for one repository of an OCI Distribution (v2) registry:
//! manifests and blobs, with the 401 → challenge → token dance done once
//! per client and repeated only when a token stops working.

pub mod auth;
pub mod config;

use super::digest::Digest;
use super::error::{ImageError, Result};
use super::manifest;
use crate::image::reference::Reference;
use auth::{parse_challenges, TokenResponse};
use config::{Credentials, RegistryOptions};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use std::sync::Mutex;

const USER_AGENT: &str = concat!("rcompose/", env!("CARGO_PKG_VERSION"));

/// What a client may do in the repository (the token scope's actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

/// A client for one repository.
pub struct Client {
    http: reqwest::Client,
    /// The registry as named in references (`docker.io`, `127.0.0.1:5000`).
    domain: String,
    /// Base URL in use (a mirror or the registry itself).
    base: String,
    repository: String,
    credentials: Option<Credentials>,
    access: Access,
    /// Extra repositories to ask pull access for (cross-repository mounts).
    extra_scopes: Vec<String>,
    authorization: Mutex<Option<HeaderValue>>,
}

/// A manifest or index as served.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// Builds the shared HTTP client (connection pool, rustls).
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(8)
        .build()
        .map_err(|e| ImageError::Registry {
            registry: "-".into(),
            message: format!("cannot set up the HTTP client: {e}"),
        })
}

impl Client {
    /// A client for the repository of `reference` at `base` (one of
    /// [`RegistryOptions::endpoints`]).
    pub fn new(
        http: reqwest::Client,
        reference: &Reference,
        base: &str,
        opts: &RegistryOptions,
        access: Access,
    ) -> Result<Client> {
        Ok(Client {
            http,
            domain: reference.domain().to_string(),
            base: base.trim_end_matches('/').to_string(),
            repository: reference.path().to_string(),
            credentials: opts.credentials(reference.domain())?,
            access,
            extra_scopes: Vec::new(),
            authorization: Mutex::new(None),
        })
    }

    /// Uses these credentials instead of the stored ones (login checks).
    pub fn with_credentials(mut self, creds: Option<Credentials>) -> Self {
        self.credentials = creds;
        self
    }

    /// Also asks for pull access to `repository` (for blob mounts from it).
    pub fn with_mount_source(mut self, repository: &str) -> Self {
        if repository != self.repository {
            self.extra_scopes.push(format!("repository:{repository}:pull"));
        }
        self
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repository, tail)
    }

    fn connect_error(&self, url: &str, e: &reqwest::Error) -> ImageError {
        let mut message = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        ImageError::Connect {
            registry: self.domain.clone(),
            url: url.to_string(),
            message,
        }
    }

    /// Sends a request, authenticating on a 401 and retrying once.
    /// `body` is rebuilt for the retry.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(reqwest::header::HeaderName, String)],
        body: impl Fn() -> Option<reqwest::Body>,
    ) -> Result<reqwest::Response> {
        let mut authenticated = false;
        loop {
            let mut req = self.http.request(method.clone(), url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let auth = self.authorization.lock().map(|g| g.clone()).unwrap_or(None);
            if let Some(a) = auth {
                req = req.header(AUTHORIZATION, a);
            }
            if let Some(b) = body() {
                req = req.body(b);
            }
            let resp = req.send().await.map_err(|e| self.connect_error(url, &e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || authenticated {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_challenges)
                .collect::<Vec<_>>();
            self.authenticate(&challenge).await?;
            authenticated = true;
        }
    }

    /// Answers a challenge: a Bearer token for our scope, or Basic.
    async fn authenticate(&self, challenges: &[auth::Challenge]) -> Result<()> {
        let unauthorized = || ImageError::Unauthorized {
            registry: self.domain.clone(),
            repository: self.repository.clone(),
            status: 401,
        };
        if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = c.params.get("realm").ok_or_else(|| ImageError::Registry {
                registry: self.domain.clone(),
                message: "the Bearer challenge has no realm; the registry is misconfigured".into(),
            })?;
            let actions = match self.access {
                Access::Pull => "pull",
                Access::Push => "pull,push",
            };
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(s) = c.params.get("service") {
                query.push(("service", s.clone()));
            }
            query.push(("scope", format!("repository:{}:{actions}", self.repository)));
            for s in &self.extra_scopes {
                query.push(("scope", s.clone()));
            }
            let mut req = self.http.get(realm).query(&query);
            if let Some(cr) = &self.credentials {
                req = req.header(AUTHORIZATION, cr.basic_header());
            }
            let resp = req.send().await.map_err(|e| self.connect_error(realm, &e))?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(ImageError::Unauthorized {
                    registry: self.domain.clone(),
                    repository: self.repository.clone(),
                    status: status.as_u16(),
                });
            }
            if !status.is_success() {
                return Err(status_error(&self.domain, "token request", realm, resp).await);
            }
            let body = resp.bytes().await.map_err(|e| self.connect_error(realm, &e))?;
            let tr: TokenResponse = serde_json::from_slice(&body).map_err(|e| ImageError::Registry {
                registry: self.domain.clone(),
                message: format!("the token service at {realm} sent an unreadable answer: {e}"),
            })?;
            let token = tr.into_token().ok_or_else(|| ImageError::Registry {
                registry: self.domain.clone(),
                message: format!("the token service at {realm} sent no token"),
            })?;
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ImageError::Registry {
                registry: self.domain.clone(),
                message: "the token service sent a token that is not a valid header value".into(),
            })?;
            if let Ok(mut g) = self.authorization.lock() {
                *g = Some(value);
            }
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            let cr = self.credentials.as_ref().ok_or_else(unauthorized)?;
            let value = HeaderValue::from_str(&cr.basic_header()).map_err(|_| unauthorized())?;
            if let Ok(mut g) = self.authorization.lock() {
                *g = Some(value);
            }
            return Ok(());
        }
        Err(unauthorized())
    }

    /// Checks that the registry answers and the credentials are accepted
    /// (`GET /v2/`, as `docker login` does).
    pub async fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send(Method::GET, &url, &[], || None).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ImageError::Unauthorized {
                registry: self.domain.clone(),
                repository: self.repository.clone(),
                status: resp.status().as_u16(),
            }),
            _ => Err(status_error(&self.domain, "GET", &url, resp).await),
        }
    }

    /// Fetches a manifest or index by tag or digest. The digest is computed
    /// from the bytes; when asked by digest, a mismatch is an error.
    pub async fn get_manifest(&self, reference: &str) -> Result<FetchedManifest> {
        let url = self.url(&format!("manifests/{reference}"));
        let accept = manifest::MANIFEST_ACCEPT.join(", ");
        let resp = self.send(Method::GET, &url, &[(ACCEPT, accept)], || None).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(ImageError::RegistryNotFound {
                registry: self.domain.clone(),
                repository: self.repository.clone(),
                what: format!("manifest {reference}"),
            });
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ImageError::Unauthorized {
                registry: self.domain.clone(),
                repository: self.repository.clone(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(status_error(&self.domain, "GET", &url, resp).await);
        }
        let header_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let bytes = resp.bytes().await.map_err(|e| self.connect_error(&url, &e))?.to_vec();
        if bytes.len() > 4 * 1024 * 1024 {
            return Err(ImageError::Registry {
                registry: self.domain.clone(),
                message: format!("manifest {reference} is larger than 4 MiB; refusing it"),
            });
        }
        let digest = match reference.parse::<Digest>() {
            Ok(want) => {
                let mut h = want.hasher();
                h.update(&bytes);
                let got = h.finish();
                if got != want {
                    return Err(ImageError::DigestMismatch {
                        what: format!("manifest {}/{}@{want}", self.domain, self.repository),
                        expected: want,
                        actual: got,
                    });
                }
                want
            }
            Err(_) => Digest::sha256_of(&bytes),
        };
        let media_type = media_type_of(&bytes, header_type.as_deref());
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Starts a blob download; the caller streams and verifies the body.
    pub async fn get_blob(&self, digest: &Digest) -> Result<reqwest::Response> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::GET, &url, &[], || None).await?;
        match resp.status() {
            s if s.is_success() => Ok(resp),
            StatusCode::NOT_FOUND => Err(ImageError::RegistryNotFound {
                registry: self.domain.clone(),
                repository: self.repository.clone(),
                what: format!("blob {digest}"),
            }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ImageError::Unauthorized {
                registry: self.domain.clone(),
                repository: self.repository.clone(),
                status: resp.status().as_u16(),
            }),
            _ => Err(status_error(&self.domain, "GET", &url, resp).await),
        }
    }

    /// Fetches a small blob (a config) whole and verifies it.
    pub async fn get_blob_bytes(&self, digest: &Digest, max: u64) -> Result<Vec<u8>> {
        let resp = self.get_blob(digest).await?;
        let url = self.url(&format!("blobs/{digest}"));
        if resp.content_length().is_some_and(|l| l > max) {
            return Err(ImageError::Registry {
                registry: self.domain.clone(),
                message: format!("blob {digest} is larger than the {max} bytes expected"),
            });
        }
        let bytes = resp.bytes().await.map_err(|e| self.connect_error(&url, &e))?.to_vec();
        let mut h = digest.hasher();
        h.update(&bytes);
        let actual = h.finish();
        if &actual != digest {
            return Err(ImageError::DigestMismatch {
                what: format!("blob {digest} from {}", self.domain),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Whether the repository has the blob.
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::HEAD, &url, &[], || None).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ImageError::Unauthorized {
                registry: self.domain.clone(),
                repository: self.repository.clone(),
                status: resp.status().as_u16(),
            }),
            _ => Err(status_error(&self.domain, "HEAD", &url, resp).await),
        }
    }

    /// Tries a cross-repository mount of `digest` from `from`; Ok(true) if
    /// the registry mounted it. A registry that cannot mount answers 202
    /// with an upload session, which we leave unused.
    pub async fn mount_blob(&self, digest: &Digest, from: &str) -> Result<bool> {
        let url = format!(
            "{}/v2/{}/blobs/uploads/?mount={}&from={}",
            self.base, self.repository, digest, from
        );
        let resp = self
            .send(Method::POST, &url, &[], || Some(reqwest::Body::from(Vec::new())))
            .await?;
        Ok(resp.status() == StatusCode::CREATED)
    }

    /// Uploads a blob monolithically: POST for a session, then PUT with the
    /// digest. `body` is called again if authentication makes us retry.
    pub async fn upload_blob(&self, digest: &Digest, size: u64, body: impl Fn() -> reqwest::Body) -> Result<()> {
        let url = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
        let resp = self
            .send(Method::POST, &url, &[], || Some(reqwest::Body::from(Vec::new())))
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(ImageError::Unauthorized {
                registry: self.domain.clone(),
                repository: self.repository.clone(),
                status: resp.status().as_u16(),
            });
        }
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error(&self.domain, "POST", &url, resp).await);
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ImageError::Registry {
                registry: self.domain.clone(),
                message: "the upload session has no Location header".into(),
            })?
            .to_string();
        let mut put_url = if location.starts_with("http://") || location.starts_with("https://") {
            location
        } else {
            format!("{}{}", self.base, location)
        };
        put_url.push(if put_url.contains('?') { '&' } else { '?' });
        put_url.push_str(&format!("digest={digest}"));
        let headers = [
            (CONTENT_TYPE, "application/octet-stream".to_string()),
            (reqwest::header::CONTENT_LENGTH, size.to_string()),
        ];
        let resp = self.send(Method::PUT, &put_url, &headers, || Some(body())).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(&self.domain, "PUT blob", &put_url, resp).await);
        }
        Ok(())
    }

    /// Uploads a manifest under `reference` (tag or digest).
    pub async fn put_manifest(&self, reference: &str, media_type: &str, bytes: Vec<u8>) -> Result<()> {
        let url = self.url(&format!("manifests/{reference}"));
        let headers = [(CONTENT_TYPE, media_type.to_string())];
        let resp = self
            .send(Method::PUT, &url, &headers, || Some(reqwest::Body::from(bytes.clone())))
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(ImageError::Unauthorized {
                registry: self.domain.clone(),
                repository: self.repository.clone(),
                status: resp.status().as_u16(),
            });
        }
        if !resp.status().is_success() {
            return Err(status_error(&self.domain, "PUT manifest", &url, resp).await);
        }
        Ok(())
    }
}

/// The media type of a manifest document: its own `mediaType` field, else
/// the Content-Type header, else guessed from its shape.
pub fn media_type_of(bytes: &[u8], header: Option<&str>) -> String {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u32>,
    }
    let probe: Option<Probe> = serde_json::from_slice(bytes).ok();
    if let Some(mt) = probe.as_ref().and_then(|p| p.media_type.clone()) {
        return mt;
    }
    if let Some(h) = header.filter(|h| manifest::is_index(h) || manifest::is_manifest(h)) {
        return h.to_string();
    }
    match probe {
        Some(p) if p.schema_version == Some(1) => manifest::DOCKER_SCHEMA1.to_string(),
        Some(p) if p.manifests.is_some() => manifest::OCI_INDEX.to_string(),
        _ => manifest::OCI_MANIFEST.to_string(),
    }
}

async fn status_error(registry: &str, action: &'static str, url: &str, resp: reqwest::Response) -> ImageError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(300).collect();
    ImageError::RegistryStatus {
        registry: registry.to_string(),
        action,
        url: url.to_string(),
        status,
        body: body.trim().to_string(),
    }
}

//! The TLS backends an [`HttpTransport`](crate::HttpTransport) can use, chosen by Cargo
//! features, and how each is set up on reqwest's builder.

use mishika_core::Error;

/// The TLS library behind an [`HttpTransport`](crate::HttpTransport).
///
/// Each is compiled in by a feature of `mishika-http` (forwarded by `mishika`); a build may
/// have several, and [`HttpTransportBuilder::tls_backend`](crate::HttpTransportBuilder::tls_backend)
/// picks one. Without any, the transport speaks plain `http://` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsBackend {
    /// rustls with the `ring` crypto provider (feature `rustls-ring`, the default).
    RustlsRing,
    /// rustls with the `aws-lc-rs` crypto provider (feature `rustls-aws-lc-rs`).
    RustlsAwsLcRs,
    /// The platform's TLS library (feature `native-tls`): OpenSSL on Linux, Secure
    /// Transport on macOS, SChannel on Windows.
    NativeTls,
}

impl TlsBackend {
    /// The Cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        match self {
            TlsBackend::RustlsRing => "rustls-ring",
            TlsBackend::RustlsAwsLcRs => "rustls-aws-lc-rs",
            TlsBackend::NativeTls => "native-tls",
        }
    }

    /// Whether this build has the backend.
    pub fn is_available(self) -> bool {
        match self {
            TlsBackend::RustlsRing => cfg!(feature = "rustls-ring"),
            TlsBackend::RustlsAwsLcRs => cfg!(feature = "rustls-aws-lc-rs"),
            TlsBackend::NativeTls => cfg!(feature = "native-tls"),
        }
    }

    /// The backend a transport uses unless told otherwise; `None` when the build has no
    /// TLS feature (plain `http://` only).
    ///
    /// Cargo adds features up across a dependency graph, so a build can have several. Then
    /// a feature chosen on purpose wins over the default one: `native-tls` first, then
    /// `rustls-aws-lc-rs`, then `rustls-ring`.
    pub fn default_for_build() -> Option<TlsBackend> {
        [
            TlsBackend::NativeTls,
            TlsBackend::RustlsAwsLcRs,
            TlsBackend::RustlsRing,
        ]
        .into_iter()
        .find(|backend| backend.is_available())
    }
}

/// The TLS settings of an [`HttpTransportBuilder`](crate::HttpTransportBuilder).
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    pub(crate) backend: Option<TlsBackend>,
    /// PEM texts, each with one or more certificates.
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) accept_invalid_certs: bool,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("backend", &self.backend)
            .field("root_certificates", &self.root_certificates.len())
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

/// No TLS feature in this build: the error for an `https://` URL, or for TLS settings.
pub(crate) const NO_TLS: &str = "this build of mishika-http has no TLS: enable one of its \
    features `rustls-ring`, `rustls-aws-lc-rs` or `native-tls` (mishika forwards them)";

/// Sets up `settings` on reqwest's builder; returns the backend used (`None`: plain HTTP).
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    settings: TlsSettings,
) -> Result<(reqwest::ClientBuilder, Option<TlsBackend>), Error> {
    let Some(backend) = settings.backend.or_else(TlsBackend::default_for_build) else {
        if !settings.root_certificates.is_empty() || settings.accept_invalid_certs {
            return Err(Error::config(format!(
                "root certificates and danger_accept_invalid_certs need TLS, and {NO_TLS}"
            )));
        }
        return Ok((builder, None));
    };
    if !backend.is_available() {
        return Err(Error::config(format!(
            "the TLS backend {backend:?} is not in this build: enable the `{}` feature of \
             mishika-http or mishika",
            backend.feature()
        )));
    }
    Ok((apply(builder, backend, &settings)?, Some(backend)))
}

/// Sets up `backend` (one this build has) with `settings`.
fn apply(
    builder: reqwest::ClientBuilder,
    backend: TlsBackend,
    settings: &TlsSettings,
) -> Result<reqwest::ClientBuilder, Error> {
    match backend {
        #[cfg(feature = "native-tls")]
        TlsBackend::NativeTls => native::configure(builder, settings),
        #[cfg(feature = "rustls-ring")]
        TlsBackend::RustlsRing => {
            let provider = rustls::crypto::ring::default_provider();
            Ok(builder.tls_backend_preconfigured(rustls_tls::config(provider, settings)?))
        }
        #[cfg(feature = "rustls-aws-lc-rs")]
        TlsBackend::RustlsAwsLcRs => {
            let provider = rustls::crypto::aws_lc_rs::default_provider();
            Ok(builder.tls_backend_preconfigured(rustls_tls::config(provider, settings)?))
        }
        // Not reached: the caller checked `is_available`.
        #[allow(unreachable_patterns)]
        _ => {
            drop((builder, settings));
            Err(Error::config(NO_TLS))
        }
    }
}

/// A PEM text that holds no certificate.
#[cfg(any(feature = "_rustls", feature = "native-tls"))]
fn no_certificate() -> Error {
    Error::config("a root certificate PEM holds no certificate")
}

#[cfg(feature = "native-tls")]
mod native {
    use super::{TlsSettings, no_certificate};
    use mishika_core::Error;

    pub(super) fn configure(
        mut builder: reqwest::ClientBuilder,
        settings: &TlsSettings,
    ) -> Result<reqwest::ClientBuilder, Error> {
        builder = builder.tls_backend_native();
        for pem in &settings.root_certificates {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::config("invalid root certificate PEM").with_source(e))?;
            if certificates.is_empty() {
                return Err(no_certificate());
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if settings.accept_invalid_certs {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }
}

#[cfg(feature = "_rustls")]
mod rustls_tls {
    use std::sync::Arc;

    use super::{TlsSettings, no_certificate};
    use mishika_core::Error;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    /// A rustls configuration on `provider`, passed to reqwest whole: no process-wide
    /// provider is installed or needed. Certificates are checked against the system's
    /// roots and `settings`' own (rustls-platform-verifier, as reqwest's `rustls` does).
    pub(super) fn config(
        provider: CryptoProvider,
        settings: &TlsSettings,
    ) -> Result<rustls::ClientConfig, Error> {
        let provider = Arc::new(provider);
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config("could not set up TLS").with_source(e))?
            .dangerous();
        let mut roots = Vec::new();
        for pem in &settings.root_certificates {
            let before = roots.len();
            for certificate in CertificateDer::pem_slice_iter(pem) {
                roots
                    .push(certificate.map_err(|e| {
                        Error::config(format!("invalid root certificate PEM: {e}"))
                    })?);
            }
            if roots.len() == before {
                return Err(no_certificate());
            }
        }
        let verifier: Arc<dyn ServerCertVerifier> = if settings.accept_invalid_certs {
            Arc::new(AcceptAnyCertificate(provider))
        } else if roots.is_empty() {
            Arc::new(
                rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
                    Error::config("could not load the system's roots").with_source(e)
                })?,
            )
        } else {
            Arc::new(with_extra_roots(roots, provider)?)
        };
        let mut config = builder
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // What reqwest offers by ALPN with its own rustls setup.
        config.alpn_protocols = if cfg!(feature = "http2") {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(config)
    }

    #[cfg(any(all(unix, not(target_os = "android")), target_os = "windows"))]
    fn with_extra_roots(
        roots: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<rustls_platform_verifier::Verifier, Error> {
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider)
            .map_err(|e| Error::config("invalid root certificate").with_source(e))
    }

    #[cfg(not(any(all(unix, not(target_os = "android")), target_os = "windows")))]
    fn with_extra_roots(
        _roots: Vec<CertificateDer<'static>>,
        _provider: Arc<CryptoProvider>,
    ) -> Result<rustls_platform_verifier::Verifier, Error> {
        Err(Error::config(
            "extra root certificates are not supported with rustls on this platform",
        ))
    }

    /// `danger_accept_invalid_certs`: any certificate for any name, expired or self-signed.
    /// The handshake's signatures are still checked against the certificate presented.
    #[derive(Debug)]
    struct AcceptAnyCertificate(Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

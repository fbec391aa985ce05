//! How a request proves who it is beyond the session cookie: DRF Token, simplejwt and bearer JWTs from any OIDC/JWKS issuer.

pub mod bearer;

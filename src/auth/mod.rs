//! Signing people in at the gateway: the users from `[[users]]`, their
//! argon2id password hashes, and the throttle on failed logins. The HTTP
//! endpoints that use them are in `endpoints`.

pub mod password;
pub mod throttle;
pub mod users;

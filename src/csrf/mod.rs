//! Django-compatible CSRF protection: tokens (`token`), the Origin and
//! Referer rules (`origin`), the form-field token in POST bodies (`form`),
//! and the `csrftoken` cookie the gateway hands out (`cookie`). The pipeline
//! stage that applies them in Django's order is `pipeline::check_csrf`.

pub mod cookie;
pub mod form;
pub mod origin;
pub mod settings;
pub mod token;

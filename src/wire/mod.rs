//! What crosses the socket: the request bytes (`request`), response framing
//! (`http`), TLS configuration and certificate checks (`tls`, `tls_verify`), and
//! response checks (`expect`).

pub mod expect;
pub mod http;
pub mod request;
pub mod tls;
pub mod tls_verify;

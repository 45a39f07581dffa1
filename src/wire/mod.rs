//! What crosses the socket: the request bytes (`request`), response framing
//! (`http`, with the head's parsing in `head`), response checks (`expect`), and TLS:
//! what client and server share (`tls`), the client's configuration (`tls_client`),
//! `barrage serve --tls`'s (`tls_server`), certificate verification (`tls_verify`,
//! reading certificates with `cert`), and why handshakes failed (`tls_reasons`).

pub mod cert;
pub mod expect;
pub mod head;
pub mod http;
pub mod request;
pub mod tls;
pub mod tls_client;
pub mod tls_reasons;
pub mod tls_server;
pub mod tls_verify;

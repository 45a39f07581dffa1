//! The demo shop of `barrage serve`: a small stateful application for scenarios
//! (`examples/shop.toml`), so that examples and tests of multi-step flows run offline.
//! The server's loops hand it every request to `/login`, `/items` and `/checkout`
//! ([`Shop::answer`]); every other path keeps its canned answer.
//!
//! - `POST /login` with a form body `user=U&password=P`: the demo's password for user
//!   `U` is `U-secret`. Answers `{"token": "...", "user": "U"}` and
//!   `Set-Cookie: sid=...; Path=/; HttpOnly`; 400 without a user, 401 for a wrong
//!   password.
//! - `GET /items?token=T`: the catalogue as JSON, `{"items": [{"id": 17, ...}, ...]}`;
//!   401 without a valid token.
//! - `POST /checkout` with `Authorization: Bearer T`, the `sid` cookie of the same
//!   login, and a JSON body `{"item": ID}`: 201 with the order as JSON, counted for the
//!   user; 401 without a valid token, 403 without the matching session cookie, 400 for
//!   a body that names no item of the catalogue.
//!
//! Tokens and session ids carry the login's number and a keyed hash of it (SipHash
//! with a key drawn when the server starts), so the server checks them without
//! keeping a session table: memory does not grow with logins. The per-user checkout
//! counts (a Mutex: this is the test server, not the generator) are printed when
//! `barrage serve` stops, for tests to compare with results.csv.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::report::fmt::plural;
use crate::serve::Answer;
use crate::wire::request::percent_decode;

/// The catalogue: id, name, price.
const ITEMS: [(u64, &str, u64); 3] = [(17, "tea", 3), (42, "towel", 12), (99, "guide", 42)];

/// The demo shop's state, shared by the server's loops.
#[derive(Debug, Default)]
pub struct Shop {
    key: RandomState,
    logins: AtomicU64,
    /// Successful checkouts per user.
    checkouts: Mutex<BTreeMap<String, u64>>,
}

impl Shop {
    /// The answer to a request for one of the shop's paths; `None` for other paths.
    /// `target` is the request target (path and query), `headers` the request's.
    pub fn answer(
        &self,
        method: &str,
        target: &str,
        headers: &[httparse::Header<'_>],
        body: &[u8],
    ) -> Option<Answer> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let allowed = match path {
            "/login" | "/checkout" => "POST",
            "/items" => "GET",
            _ => return None,
        };
        let head_of_get = allowed == "GET" && method == "HEAD";
        if method != allowed && !head_of_get {
            let mut a = json(405, &format!(r#"{{"error": "use {allowed}"}}"#));
            let _ = write!(a.headers, "Allow: {allowed}\r\n");
            return Some(a);
        }
        Some(match path {
            "/login" => self.login(body),
            "/items" => self.items(query),
            _ => self.checkout(headers, body),
        })
    }

    /// The lines `barrage serve` prints when it stops (none if the shop was unused).
    pub fn report(&self) -> Vec<String> {
        let logins = self.logins.load(Ordering::Acquire);
        let counts = self.checkouts.lock().unwrap_or_else(|e| e.into_inner());
        if logins == 0 && counts.is_empty() {
            return Vec::new();
        }
        let total: u64 = counts.values().sum();
        let mut lines = vec![format!(
            "shop: {}, {}",
            plural(logins, "login"),
            plural(total, "checkout")
        )];
        for (user, n) in counts.iter() {
            lines.push(format!(
                "shop: user {user:?} checked out {}",
                plural(*n, "time")
            ));
        }
        lines
    }

    /// Successful checkouts per user so far.
    pub fn checkouts(&self) -> BTreeMap<String, u64> {
        self.checkouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn login(&self, body: &[u8]) -> Answer {
        let form = String::from_utf8_lossy(body);
        let field = |name: &str| {
            form.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| String::from_utf8_lossy(&percent_decode(v, true)).into_owned())
        };
        let Some(user) = field("user").filter(|u| !u.is_empty()) else {
            return json(400, r#"{"error": "send a form body user=U&password=P"}"#);
        };
        if field("password").as_deref() != Some(&format!("{user}-secret")) {
            return json(
                401,
                r#"{"error": "wrong password: the demo's password for user U is U-secret"}"#,
            );
        }
        let n = self.logins.fetch_add(1, Ordering::Relaxed) + 1;
        let mut hex = String::with_capacity(user.len() * 2);
        for b in user.bytes() {
            let _ = write!(hex, "{b:02x}");
        }
        let token = format!("{n}.{hex}.{:016x}", self.mac(b"token", n, user.as_bytes()));
        let user_json = serde_json::to_string(&user).unwrap_or_default();
        let mut a = json(
            200,
            &format!(r#"{{"token": "{token}", "user": {user_json}}}"#),
        );
        let _ = write!(
            a.headers,
            "Set-Cookie: sid={}; Path=/; HttpOnly\r\n",
            self.sid(n)
        );
        a
    }

    fn items(&self, query: &str) -> Answer {
        let token = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| String::from_utf8_lossy(&percent_decode(v, true)).into_owned());
        if token.as_deref().and_then(|t| self.check_token(t)).is_none() {
            return json(
                401,
                r#"{"error": "give the token from /login: /items?token=T"}"#,
            );
        }
        let items: Vec<String> = ITEMS.iter().map(|it| item_json(*it)).collect();
        json(200, &format!(r#"{{"items": [{}]}}"#, items.join(", ")))
    }

    fn checkout(&self, headers: &[httparse::Header<'_>], body: &[u8]) -> Answer {
        let header = |name: &'static str| {
            headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let login = header("authorization").find_map(|v| {
            v.strip_prefix("Bearer ")
                .and_then(|t| self.check_token(t.trim()))
        });
        let Some((n, user)) = login else {
            return json(
                401,
                r#"{"error": "send Authorization: Bearer T with the token from /login"}"#,
            );
        };
        let sid = self.sid(n);
        let has_session = header("cookie").any(|v| {
            v.split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .any(|(k, v)| k == "sid" && v == sid)
        });
        if !has_session {
            return json(
                403,
                r#"{"error": "send the sid cookie that came with this token from /login"}"#,
            );
        }
        let wanted = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("item").and_then(serde_json::Value::as_u64));
        let Some(item) = ITEMS.iter().find(|it| Some(it.0) == wanted) else {
            return json(
                400,
                r#"{"error": "send {\"item\": ID} with an id from /items"}"#,
            );
        };
        let mut counts = self.checkouts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(user.clone()).or_insert(0);
        *count += 1;
        let order = *count;
        drop(counts);
        let user_json = serde_json::to_string(&user).unwrap_or_default();
        json(
            201,
            &format!(
                r#"{{"order": {order}, "user": {user_json}, "item": {}}}"#,
                item_json(*item)
            ),
        )
    }

    fn mac(&self, what: &[u8], n: u64, data: &[u8]) -> u64 {
        let mut h = self.key.build_hasher();
        h.write(what);
        h.write_u64(n);
        h.write(data);
        h.finish()
    }

    fn sid(&self, n: u64) -> String {
        format!("{n}.{:016x}", self.mac(b"sid", n, b""))
    }

    /// The login number and user of a valid token.
    fn check_token(&self, token: &str) -> Option<(u64, String)> {
        let mut parts = token.split('.');
        let (n, hex, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || hex.len() % 2 != 0 {
            return None;
        }
        let n: u64 = n.parse().ok()?;
        let user: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        let mac = u64::from_str_radix(mac, 16).ok()?;
        (mac == self.mac(b"token", n, &user))
            .then(|| (n, String::from_utf8_lossy(&user).into_owned()))
    }
}

fn item_json((id, name, price): (u64, &str, u64)) -> String {
    format!(r#"{{"id": {id}, "name": "{name}", "price": {price}}}"#)
}

/// A JSON answer.
fn json(status: u16, body: &str) -> Answer {
    Answer {
        status,
        eof: false,
        body: body.as_bytes().to_vec(),
        chunked: false,
        close: false,
        delay: None,
        head: false,
        headers: b"Content-Type: application/json\r\n".to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a str) -> httparse::Header<'a> {
        httparse::Header {
            name,
            value: value.as_bytes(),
        }
    }

    fn body(a: &Answer) -> serde_json::Value {
        serde_json::from_slice(&a.body).unwrap()
    }

    /// Logs `user` in: (token, sid).
    fn login(shop: &Shop, user: &str) -> (String, String) {
        let a = shop
            .answer(
                "POST",
                "/login",
                &[],
                format!("user={user}&password={user}-secret").as_bytes(),
            )
            .unwrap();
        assert_eq!(a.status, 200);
        let headers = String::from_utf8(a.headers.clone()).unwrap();
        let sid = headers
            .split("Set-Cookie: sid=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        assert!(headers.contains("; Path=/; HttpOnly\r\n"), "{headers}");
        (body(&a)["token"].as_str().unwrap().to_string(), sid)
    }

    fn checkout(shop: &Shop, token: &str, cookie: &str, item: &str) -> Answer {
        let auth = format!("Bearer {token}");
        shop.answer(
            "POST",
            "/checkout",
            &[h("Authorization", &auth), h("Cookie", cookie)],
            item.as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_user_logs_in_lists_and_buys() {
        let shop = Shop::default();
        let (token, sid) = login(&shop, "alice");
        let a = shop
            .answer("GET", &format!("/items?token={token}"), &[], b"")
            .unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(body(&a)["items"][0]["id"], 17);
        let a = checkout(
            &shop,
            &token,
            &format!("theme=dark; sid={sid}"),
            r#"{"item": 42}"#,
        );
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
        let order = body(&a);
        assert_eq!(
            (order["order"].as_u64(), order["user"].as_str()),
            (Some(1), Some("alice"))
        );
        assert_eq!(order["item"]["name"], "towel");
        assert!(String::from_utf8_lossy(&a.headers).contains("application/json"));
        checkout(&shop, &token, &format!("sid={sid}"), r#"{"item": 17}"#);
        let (t2, s2) = login(&shop, "b%C3%B6b"); // form-encoded "böb"
        checkout(&shop, &t2, &format!("sid={s2}"), r#"{"item": 99}"#);
        assert_eq!(
            shop.checkouts(),
            BTreeMap::from([("alice".to_string(), 2), ("böb".to_string(), 1)])
        );
        assert_eq!(
            shop.report(),
            [
                "shop: 2 logins, 3 checkouts",
                "shop: user \"alice\" checked out 2 times",
                "shop: user \"böb\" checked out 1 time"
            ]
        );
        assert!(
            Shop::default().report().is_empty(),
            "an unused shop prints nothing"
        );
    }

    #[test]
    fn checkout_needs_the_token_and_its_session_cookie() {
        let shop = Shop::default();
        let (token, sid) = login(&shop, "alice");
        let (other_token, other_sid) = login(&shop, "bob");
        let item = r#"{"item": 17}"#;
        let forged = format!(
            "{}.{}",
            &token[..token.rfind('.').unwrap()],
            "0123456789abcdef"
        );
        for (token, cookie, body, status) in [
            ("", "", item, 401),
            ("nonsense", &*format!("sid={sid}"), item, 401),
            (&*forged, &*format!("sid={sid}"), item, 401),
            (&*token, "", item, 403),
            (&*token, &*format!("sid={other_sid}"), item, 403), // bob's session
            (&*token, &*format!("sid={sid}x"), item, 403),
            (&*token, &*format!("sid={sid}"), r#"{"item": 5}"#, 400),
            (&*token, &*format!("sid={sid}"), "item=17", 400),
            (&*other_token, &*format!("sid={other_sid}"), item, 201),
        ] {
            let a = checkout(&shop, token, cookie, body);
            assert_eq!(a.status, status, "{token} {cookie} {body}");
        }
        assert_eq!(shop.checkouts(), BTreeMap::from([("bob".to_string(), 1)]));
        // Another server's tokens are not valid here (a new key).
        assert_eq!(
            checkout(
                &Shop::default(),
                &other_token,
                &format!("sid={other_sid}"),
                item
            )
            .status,
            401
        );
    }

    #[test]
    fn bad_logins_items_and_methods() {
        let shop = Shop::default();
        let post = |body: &str| {
            shop.answer("POST", "/login", &[], body.as_bytes())
                .unwrap()
                .status
        };
        assert_eq!(post("user=alice&password=nope"), 401);
        assert_eq!(post("user=alice"), 401);
        assert_eq!(post("password=x"), 400);
        assert_eq!(post("user=&password=-secret"), 400);
        assert_eq!(post("user=a+b&password=a+b-secret"), 200);
        assert_eq!(shop.answer("GET", "/items", &[], b"").unwrap().status, 401);
        assert_eq!(
            shop.answer("GET", "/items?token=1.61.0", &[], b"")
                .unwrap()
                .status,
            401
        );
        let (token, _) = login(&shop, "x");
        assert_eq!(
            shop.answer("HEAD", &format!("/items?token={token}"), &[], b"")
                .unwrap()
                .status,
            200
        );
        let wrong = shop.answer("GET", "/login", &[], b"").unwrap();
        assert_eq!(wrong.status, 405);
        assert!(String::from_utf8_lossy(&wrong.headers).contains("Allow: POST\r\n"));
        assert_eq!(
            shop.answer("DELETE", "/checkout", &[], b"").unwrap().status,
            405
        );
        assert!(shop.answer("GET", "/", &[], b"").is_none());
        assert!(shop.answer("POST", "/login/x", &[], b"").is_none());
        assert!(shop.answer("GET", "/?status=503", &[], b"").is_none());
    }
}

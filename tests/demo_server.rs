//! The embedded server as a person and a device meet it: the approval page in a browser
//! (plain HTTP form posts here), and the device API behind it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use c2c_pair::c2c::{C2cClient, ClientCredentials, ClientError, OAuthErrorCode};
use c2c_pair::demo::DemoServer;
use secrecy::SecretString;

fn credentials(id: &str) -> ClientCredentials {
    ClientCredentials {
        client_id: id.into(),
        client_secret: SecretString::from(common::demo_secret()),
    }
}

#[tokio::test]
async fn a_person_approves_on_the_page_the_qr_opens() {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let client = C2cClient::new(common::profile_for(server.base_url())).unwrap();
    c2c_pair::c2c::install_crypto_provider();
    let http = reqwest::Client::new();
    let auth = client
        .request_device_code(&credentials("CAM-WEB"))
        .await
        .unwrap();

    // Arriving from the QR: the code is filled in; the waiting device is not named before
    // the code is submitted (the page tells nothing about codes it is merely shown).
    let link = auth.verification_uri_complete.clone().unwrap();
    let page = http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains(&format!(r#"value="{}""#, auth.user_code)),
        "{page}"
    );
    assert!(
        !page.contains("CAM-WEB"),
        "no device named before the code is entered"
    );
    assert!(page.contains("Field Test"), "projects are offered");

    // Typed as read from the screen, with a space; into a chosen project, with a name.
    let typed = format!("{} {}", &auth.user_code[..3], &auth.user_code[3..]);
    let form = [
        ("code", typed.as_str()),
        ("project", "Field Test"),
        ("device_name", "B-Cam"),
        ("action", "approve"),
    ];
    let answer = common::submit_approval(&http, &link, &form).await;
    assert!(answer.contains("Device CAM-WEB was approved"), "{answer}");

    let tokens = client
        .exchange_device_code(&credentials("CAM-WEB"), &auth.device_code)
        .await
        .unwrap();
    let info = client.device_info(&tokens.access_token).await.unwrap();
    assert_eq!(info.project.unwrap().name.as_deref(), Some("Field Test"));
    assert_eq!(info.name.as_deref(), Some("B-Cam"));
    client.heartbeat(&tokens.access_token).await.unwrap();
}

#[tokio::test]
async fn deny_unknown_codes_and_hostile_names_on_the_page() {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let client = C2cClient::new(common::profile_for(server.base_url())).unwrap();
    c2c_pair::c2c::install_crypto_provider();
    let http = reqwest::Client::new();

    let auth = client
        .request_device_code(&credentials("CAM-NO"))
        .await
        .unwrap();
    let page = server.approval_url().to_string();
    let form = [("code", auth.user_code.as_str()), ("action", "deny")];
    let answer = common::submit_approval(&http, &page, &form).await;
    assert!(answer.contains("was declined"), "{answer}");
    let error = client
        .exchange_device_code(&credentials("CAM-NO"), &auth.device_code)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::OAuth {
                error: OAuthErrorCode::AccessDenied,
                ..
            }
        ),
        "{error:?}"
    );

    // Unknown, used and malformed codes all get the one generic answer.
    for code in ["000000x", auth.user_code.as_str(), "999999"] {
        let answer =
            common::submit_approval(&http, &page, &[("code", code), ("action", "approve")]).await;
        assert!(
            answer.contains(c2c_pair::demo::WRONG_CODE),
            "{code}: {answer}"
        );
    }

    // A device id is shown on the page once its code is entered, so it must be escaped.
    let hostile = client
        .request_device_code(&credentials("<script>alert(1)</script>"))
        .await
        .unwrap();
    let link = hostile.verification_uri_complete.unwrap();
    let form = [("code", hostile.user_code.as_str()), ("action", "approve")];
    let answer = common::submit_approval(&http, &link, &form).await;
    assert!(
        answer.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{answer}"
    );
    assert!(!answer.contains("<script>"));
}

#[tokio::test]
async fn the_page_sends_a_strict_policy_and_refuses_forms_from_elsewhere() {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let client = C2cClient::new(common::profile_for(server.base_url())).unwrap();
    c2c_pair::c2c::install_crypto_provider();
    let http = reqwest::Client::new();
    let page = http.get(server.approval_url()).send().await.unwrap();
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let policy = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "no-referrer");
    // The style sheet the policy allows is served, under the same policy.
    let css = http
        .get(server.approval_url().join("/assets/pair.css").unwrap())
        .send()
        .await
        .unwrap();
    assert!(css.status().is_success());
    assert!(css.headers().contains_key("content-security-policy"));

    // A cross-site form: the right code, but no token from our page (or a forged one).
    let auth = client
        .request_device_code(&credentials("CAM-CSRF"))
        .await
        .unwrap();
    for token in ["", "1.00"] {
        let form = [
            ("code", auth.user_code.as_str()),
            ("action", "approve"),
            ("form_token", token),
        ];
        let answer = http
            .post(server.approval_url())
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::FORBIDDEN);
    }
    let codes = common::Control::new(server.base_url()).codes().await;
    assert_eq!(codes[0]["status"], "pending", "nothing was approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused_on_every_route_even_from_this_machine() {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let client = C2cClient::new(common::profile_for(server.base_url())).unwrap();
    let auth = client
        .request_device_code(&credentials("CAM-VISITOR"))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = server.base_url();
    let port = base.port().unwrap();
    // What a DNS-rebinding page in this machine's browser sends: its own name as Host.
    let foreign = format!("rebind.example:{port}");
    let routes: [(reqwest::Method, &str); 13] = [
        (reqwest::Method::GET, "/pair"),
        (reqwest::Method::POST, "/pair"),
        (reqwest::Method::GET, "/pair/123456"),
        (reqwest::Method::GET, "/assets/pair.css"),
        (reqwest::Method::GET, "/health"),
        (reqwest::Method::POST, "/v2/auth/device/code"),
        (reqwest::Method::POST, "/v2/auth/token"),
        (reqwest::Method::POST, "/v2/auth/revoke"),
        (reqwest::Method::GET, "/v2/devices/me"),
        (reqwest::Method::POST, "/v2/devices/heartbeat"),
        (reqwest::Method::POST, "/v2/devices/assets"),
        (reqwest::Method::PUT, "/_uploads/asset-1/1"),
        (reqwest::Method::GET, "/_control/codes"),
    ];
    for (method, path) in routes {
        let answer = http
            .request(method.clone(), base.join(path).unwrap())
            .header(reqwest::header::HOST, &foreign)
            .header("x-c2c-control", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{method} {path}");
    }
    // Guessing the visitor's code under the foreign name: every try refused, none reaches
    // the code (loopback peers are spared the guess limits, so nothing else would stop it).
    let page = base.join("/pair").unwrap();
    let started = std::time::Instant::now();
    for guess in 0..3_000u32 {
        let code = format!("{:06}", (guess * 7919) % 1_000_000);
        let answer = http
            .post(page.clone())
            .header(reqwest::header::HOST, &foreign)
            .form(&[("code", code.as_str()), ("action", "deny")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "guess {guess}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let codes = common::Control::new(base).codes().await;
    let visitor = codes
        .iter()
        .find(|c| c["user_code"] == auth.user_code.as_str())
        .unwrap();
    assert_eq!(visitor["status"], "pending", "{visitor}");
    // Its own names still work.
    let own = http.get(base.join("/pair").unwrap()).send().await.unwrap();
    assert_eq!(own.status(), 200);
}

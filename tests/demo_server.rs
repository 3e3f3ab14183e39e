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

    // Arriving from the QR: the code is filled in and the waiting device is named.
    let link = auth.verification_uri_complete.clone().unwrap();
    let page = http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains(&format!(r#"value="{}""#, auth.user_code)),
        "{page}"
    );
    assert!(page.contains("Device CAM-WEB is asking to connect."));
    assert!(page.contains("Field Test"), "projects are offered");

    // Typed as read from the screen, with a space; into a chosen project, with a name.
    let typed = format!("{} {}", &auth.user_code[..3], &auth.user_code[3..]);
    let form = [
        ("code", typed.as_str()),
        ("project", "Field Test"),
        ("device_name", "B-Cam"),
        ("action", "approve"),
    ];
    let answer = http
        .post(server.approval_url())
        .form(&form)
        .send()
        .await
        .unwrap();
    let answer = answer.text().await.unwrap();
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
    let form = [("code", auth.user_code.as_str()), ("action", "deny")];
    let answer = http
        .post(server.approval_url())
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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

    let page = http
        .get(server.approval_url().join("/pair/000000x").unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("there is no code 000000x")
    );

    // A device id is shown on the page, so it must be escaped.
    let hostile = client
        .request_device_code(&credentials("<script>alert(1)</script>"))
        .await
        .unwrap();
    let page = http
        .get(hostile.verification_uri_complete.unwrap())
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !page.contains("<script>"));
}

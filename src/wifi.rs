//! The booth's Wi-Fi as a `WIFI:` QR payload, the format phone cameras offer to join
//! (`ZXing`'s "Wi-Fi network config", read by iOS and Android cameras alike).

use secrecy::{ExposeSecret as _, SecretString};

/// The network phones join to reach the booth's demo server.
#[derive(Debug, Clone)]
pub struct BoothWifi {
    /// Network name.
    pub ssid: String,
    /// WPA/WPA2/WPA3 passphrase; `None` for an open network.
    pub password: Option<SecretString>,
    /// The network does not broadcast its name.
    pub hidden: bool,
}

impl PartialEq for BoothWifi {
    fn eq(&self, other: &Self) -> bool {
        let password = |wifi: &Self| wifi.password.as_ref().map(|p| p.expose_secret().to_owned());
        self.ssid == other.ssid && self.hidden == other.hidden && password(self) == password(other)
    }
}

impl Eq for BoothWifi {}

impl BoothWifi {
    /// The QR payload, e.g. `WIFI:T:WPA;S:Booth;P:secret;;`, with `\ ; , : "` escaped.
    pub fn qr_payload(&self) -> String {
        let ssid = escape(&self.ssid);
        let mut payload = if let Some(password) = &self.password {
            format!("WIFI:T:WPA;S:{ssid};P:{}", escape(password.expose_secret()))
        } else {
            format!("WIFI:T:nopass;S:{ssid}")
        };
        if self.hidden {
            payload.push_str(";H:true");
        }
        payload.push_str(";;");
        payload
    }
}

/// Checks a network name: 1 to 32 bytes, no control characters.
pub fn check_ssid(ssid: &str) -> Result<String, String> {
    if ssid.is_empty() || ssid.len() > 32 || ssid.chars().any(char::is_control) {
        return Err(format!(
            "{ssid:?} is not a Wi-Fi network name (1 to 32 bytes, no control characters)"
        ));
    }
    Ok(ssid.to_owned())
}

/// Checks a WPA passphrase: 8 to 63 printable ASCII characters, or 64 hex digits.
pub fn check_password(password: &str) -> Result<SecretString, String> {
    let passphrase = (8..=63).contains(&password.len())
        && password
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control());
    let hex_key = password.len() == 64 && password.chars().all(|c| c.is_ascii_hexdigit());
    if passphrase || hex_key {
        Ok(SecretString::from(password.to_owned()))
    } else {
        Err(
            "the Wi-Fi password must be 8 to 63 printable ASCII characters (or 64 hex digits)"
                .into(),
        )
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | ';' | ',' | ':' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_follow_the_wifi_qr_format() {
        let wifi = BoothWifi {
            ssid: "Booth;5G".into(),
            password: Some(SecretString::from("pa:ss\"word")),
            hidden: false,
        };
        assert_eq!(
            wifi.qr_payload(),
            r#"WIFI:T:WPA;S:Booth\;5G;P:pa\:ss\"word;;"#
        );
        let open = BoothWifi {
            ssid: "Expo".into(),
            password: None,
            hidden: true,
        };
        assert_eq!(open.qr_payload(), "WIFI:T:nopass;S:Expo;H:true;;");
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_ssid("Booth").is_ok());
        assert!(check_ssid("").is_err());
        assert!(check_ssid(&"x".repeat(33)).is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"a".repeat(64)).is_ok());
        assert!(check_password(&"g".repeat(64)).is_err());
    }
}

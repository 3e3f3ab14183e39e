//! The configuration file and its overrides.
//!
//! Each setting comes from the command line, else the environment (`C2C_PAIR_` and the key in
//! capitals, dots as `_`), else `config.toml` in the config directory, else its default.
//! Every setting is declared once, in [`table`]; that declaration drives reading the file,
//! the environment and the option, where a value came from, `config show` and the docs.
//! Values are checked where they are read, so an error names the file and line, or the
//! variable, that holds the bad value.

mod file;
pub mod parse;
mod show;
mod spec;
pub mod table;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use file::parse_file;
pub use show::reference;
pub use spec::{CliOption, Setting, SettingType, Spec, Switch, TextType, Value};
pub use table::*;

use url::Url;

use crate::c2c::profile::{EndpointPaths, Profile};

/// The file's name in the config directory.
pub const FILE_NAME: &str = "config.toml";
/// Environment variable (and `--config`) naming another configuration file.
pub const FILE_ENV: &str = "C2C_PAIR_CONFIG";
/// Prefix of the environment variables that override settings.
const ENV_PREFIX: &str = "C2C_PAIR_";

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Nothing set it.
    Default,
    /// The configuration file.
    File,
    /// An environment variable.
    Environment,
    /// A command-line option.
    CommandLine,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::File => "from the file",
            Self::Environment => "from the environment",
            Self::CommandLine => "from the command line",
        }
    }
}

/// The settings one place (file, environment or command line) sets, by key.
#[derive(Clone, Default)]
pub struct Layer {
    values: BTreeMap<&'static str, Value>,
}

impl Layer {
    /// Sets the setting `key` (a [`Spec::key`]) to a value its spec read.
    pub fn set(&mut self, key: &'static str, value: Value) {
        self.values.insert(key, value);
    }

    /// This layer with `setting` set to `value`.
    #[must_use]
    pub fn with<T: SettingType>(mut self, setting: &Setting<T>, value: T) -> Self {
        self.set(setting.key, Value::new(value));
        self
    }

    /// The value this layer gives `setting`, if it sets it.
    pub fn get<T: SettingType>(&self, setting: &Setting<T>) -> Option<T> {
        self.values.get(setting.key)?.get::<T>().cloned()
    }
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys only: a value may be a secret.
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// A setting that cannot be used, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The file is not valid TOML, has an unknown key, or a bad value.
    #[error("{path}, line {line}: {message}\n  {line} | {text}")]
    File {
        /// The file.
        path: String,
        /// 1-based line of the problem.
        line: usize,
        /// That line's text.
        text: String,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("could not read the configuration file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An environment variable holds a bad value.
    #[error("the environment variable {name}: {reason}")]
    Environment {
        /// The variable.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// The settings in effect (the default value: nothing read, every default).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The configuration file looked for (`None` when the user has no config directory).
    pub file: Option<PathBuf>,
    /// Whether that file exists and was read.
    pub file_found: bool,
    values: Layer,
    sources: BTreeMap<&'static str, Source>,
}

impl Settings {
    /// Reads the configuration file (`explicit`, else `config.toml` in `config_dir`), then
    /// the environment, and puts `command_line` over both. A missing default file is fine;
    /// a missing explicit one is an error.
    pub fn load(
        explicit: Option<&Path>,
        config_dir: Option<&Path>,
        command_line: Layer,
    ) -> Result<Self, SettingsError> {
        let file = explicit
            .map(Path::to_path_buf)
            .or_else(|| config_dir.map(|dir| dir.join(FILE_NAME)));
        let text = match &file {
            Some(path) => file::read(path, explicit.is_some())?,
            None => None,
        };
        let from_file = match (&file, &text) {
            (Some(path), Some(text)) => parse_file(path, text)?,
            _ => Layer::default(),
        };
        let from_env = from_env(|name| std::env::var(name).ok())?;
        Ok(Self::resolve(
            file,
            text.is_some(),
            [from_file, from_env, command_line],
        ))
    }

    /// Puts the layers over one another, the last winning: file, environment, command line.
    pub fn resolve(file: Option<PathBuf>, file_found: bool, layers: [Layer; 3]) -> Self {
        let mut values = Layer::default();
        let mut sources = BTreeMap::new();
        let [file_layer, env_layer, cli_layer] = layers;
        for (source, upper) in [
            (Source::File, file_layer),
            (Source::Environment, env_layer),
            (Source::CommandLine, cli_layer),
        ] {
            for (key, value) in upper.values {
                values.set(key, value);
                sources.insert(key, source);
            }
        }
        Self {
            file,
            file_found,
            values,
            sources,
        }
    }

    /// Where a setting came from (`"endpoints.token"` for keys in a table).
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).copied().unwrap_or(Source::Default)
    }

    /// The value in effect: the one set last, else the setting's default.
    pub fn get<T: SettingType>(&self, setting: &Setting<T>) -> T {
        self.values
            .get(setting)
            .unwrap_or_else(|| (setting.default)())
    }

    /// The API base a user chose; `None` means Frame.io, or the demo server while no client
    /// secret is configured.
    pub fn api_base(&self) -> Option<Url> {
        self.values.get(&API_BASE)
    }

    /// The provider profile these settings describe (already checked).
    pub fn profile(&self) -> Profile {
        Profile {
            paths: EndpointPaths {
                device_code: self.get(&ENDPOINTS_DEVICE_CODE),
                token: self.get(&ENDPOINTS_TOKEN),
                revoke: self.get(&ENDPOINTS_REVOKE),
                device_info: self.get(&ENDPOINTS_DEVICE_INFO),
                heartbeat: self.get(&ENDPOINTS_HEARTBEAT),
                assets: self.get(&ENDPOINTS_ASSETS),
            },
            client_version: self.get(&CLIENT_VERSION),
            body: self.get(&BODY),
            scope: self.get(&SCOPE),
            url_pairing: self.get(&URL_PAIRING),
            ..Profile::for_api_base(self.get(&API_BASE))
        }
    }

    /// The booth Wi-Fi to offer phones, when one is named.
    pub fn booth_wifi(&self) -> Option<crate::wifi::BoothWifi> {
        Some(crate::wifi::BoothWifi {
            ssid: self.get(&PRESENTER_WIFI_SSID)?,
            password: self.get(&PRESENTER_WIFI_PASSWORD),
            hidden: self.get(&PRESENTER_WIFI_HIDDEN),
        })
    }
}

/// The environment's layer, read through `var` (`std::env::var` outside tests). An empty
/// variable sets nothing.
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Layer, SettingsError> {
    let mut layer = Layer::default();
    for spec in ALL {
        let name = env_name(spec.key());
        let Some(text) = var(&name).filter(|text| !text.trim().is_empty()) else {
            continue;
        };
        let value = spec
            .read_text(&text)
            .map_err(|reason| SettingsError::Environment { name, reason })?;
        layer.set(spec.key(), value);
    }
    Ok(layer)
}

/// `api_base` → `C2C_PAIR_API_BASE`, `endpoints.token` → `C2C_PAIR_ENDPOINTS_TOKEN`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::c2c::profile::BodyEncoding;

    fn file(text: &str) -> Result<Layer, SettingsError> {
        parse_file(Path::new("/etc/c2c/config.toml"), text)
    }

    #[test]
    fn a_full_file_is_read() {
        let layer = file(
            r#"
api_base = "https://c2c.example.com"
client_version = "2.16.4"
body = "multipart"
url_pairing = false
heartbeat_interval = 60
keychain_timeout = 2.5
demo_listen = "0.0.0.0:8480"
report_dir = "/srv/reports"

[endpoints]
token = "/oauth/token"

[presenter]
start = true
linger = 12
"#,
        )
        .unwrap();
        let settings = Settings::resolve(None, true, [layer, Layer::default(), Layer::default()]);
        let profile = settings.profile();
        assert_eq!(profile.api_base.as_str(), "https://c2c.example.com/");
        assert_eq!(profile.client_version, "2.16.4");
        assert_eq!(profile.body, BodyEncoding::Multipart);
        assert!(!profile.url_pairing);
        assert_eq!(profile.paths.token, "/oauth/token");
        assert_eq!(profile.paths.revoke, "/v2/auth/revoke");
        assert_eq!(settings.get(&HEARTBEAT_INTERVAL), Duration::from_secs(60));
        assert_eq!(settings.get(&KEYCHAIN_TIMEOUT), Duration::from_millis(2500));
        assert_eq!(settings.get(&DEMO_LISTEN).to_string(), "0.0.0.0:8480");
        assert_eq!(settings.get(&REPORT_DIR), PathBuf::from("/srv/reports"));
        assert!(settings.get(&PRESENTER_START));
        assert_eq!(settings.get(&PRESENTER_LINGER), Duration::from_secs(12));
        assert_eq!(settings.source("endpoints.token"), Source::File);
        assert_eq!(settings.source("endpoints.revoke"), Source::Default);
    }

    #[test]
    fn environment_covers_the_file_and_the_command_line_covers_both() {
        let from_file = file("heartbeat_interval = 60\nbody = \"multipart\"\n").unwrap();
        let from_env = from_env(|name| match name {
            "C2C_PAIR_HEARTBEAT_INTERVAL" => Some("30".into()),
            "C2C_PAIR_ENDPOINTS_TOKEN" => Some("/env/token".into()),
            "C2C_PAIR_BODY" => Some("  ".into()),
            _ => None,
        })
        .unwrap();
        let command_line = Layer::default().with(&HEARTBEAT_INTERVAL, Duration::from_secs(15));
        let settings = Settings::resolve(None, true, [from_file, from_env, command_line]);
        assert_eq!(settings.get(&HEARTBEAT_INTERVAL), Duration::from_secs(15));
        assert_eq!(settings.source("heartbeat_interval"), Source::CommandLine);
        assert_eq!(settings.profile().paths.token, "/env/token");
        assert_eq!(settings.source("endpoints.token"), Source::Environment);
        // An empty variable sets nothing.
        assert_eq!(settings.profile().body, BodyEncoding::Multipart);
        assert_eq!(settings.source("body"), Source::File);
    }

    #[test]
    fn errors_name_the_line_and_what_is_wrong() {
        let cases = [
            (
                "api_base = \"http://api.frame.io\"\n",
                1,
                "refusing plain http://",
            ),
            ("\n\nheartbeat_interval = 0.5\n", 3, "between 1 and 3600"),
            ("body = \"json\"\n", 1, "use urlencoded or multipart"),
            ("url_pairing = \"yes please\"\n", 1, "invalid type"),
            (
                "[endpoints]\ntoken = \"oauth/token\"\n",
                2,
                "must start with a single /",
            ),
            ("client_version = \"2.16\"\n", 1, "not a semantic version"),
            ("heartbeet = 30\n", 1, "unknown field `heartbeet`"),
            ("[presenter]\nlinger = 0\n", 2, "between 0.1 and 600"),
            ("api_base = \"https://x\n", 1, ""),
            (
                "demo_listen = \"somewhere\"\n",
                1,
                "not an address and port",
            ),
        ];
        for (text, line, says) in cases {
            let error = file(text).unwrap_err();
            let shown = error.to_string();
            assert!(
                shown.starts_with(&format!("/etc/c2c/config.toml, line {line}: ")),
                "{text:?} → {shown}"
            );
            assert!(shown.contains(says), "{text:?} → {shown}");
            assert!(!shown.ends_with("| "), "the line's text is shown: {shown}");
        }
    }

    #[test]
    fn a_bad_environment_variable_is_named() {
        let error = from_env(|name| (name == "C2C_PAIR_KEYCHAIN_TIMEOUT").then(|| "soon".into()))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the environment variable C2C_PAIR_KEYCHAIN_TIMEOUT: \"soon\" is not a number of \
             seconds between 0.1 and 600"
        );
    }

    #[test]
    fn a_missing_default_file_is_fine_but_a_missing_chosen_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load(None, Some(dir.path()), Layer::default()).unwrap();
        assert!(!settings.file_found);
        assert_eq!(settings.file, Some(dir.path().join(FILE_NAME)));
        let missing = dir.path().join("elsewhere.toml");
        assert!(matches!(
            Settings::load(Some(&missing), Some(dir.path()), Layer::default()),
            Err(SettingsError::Unreadable { .. })
        ));
    }

    #[test]
    fn what_is_shown_reads_back_as_the_same_settings() {
        let from_file = file("heartbeat_interval = 45\n[presenter]\nlinger = 2.5\n").unwrap();
        let settings =
            Settings::resolve(None, false, [from_file, Layer::default(), Layer::default()]);
        let shown = settings.show();
        assert!(shown.contains("heartbeat_interval = 45"), "{shown}");
        assert!(shown.contains("# from the file"), "{shown}");
        let again = file(&shown).unwrap();
        let reread = Settings::resolve(None, true, [again, Layer::default(), Layer::default()]);
        assert_eq!(reread.profile(), settings.profile());
        assert_eq!(
            reread.get(&HEARTBEAT_INTERVAL),
            settings.get(&HEARTBEAT_INTERVAL)
        );
        assert_eq!(reread.get(&PRESENTER_LINGER), Duration::from_millis(2500));
    }

    #[test]
    fn the_booth_wifi_is_read_and_its_password_never_shown() {
        let from_file = file(
            "[presenter]\nwifi_ssid = \"Booth 5G\"\nwifi_password = \"visitors-welcome\"\n\
             wifi_hidden = true\n",
        )
        .unwrap();
        let settings =
            Settings::resolve(None, false, [from_file, Layer::default(), Layer::default()]);
        let wifi = settings.booth_wifi().unwrap();
        assert_eq!(
            wifi.qr_payload(),
            "WIFI:T:WPA;S:Booth 5G;P:visitors-welcome;H:true;;"
        );
        let shown = settings.show();
        assert!(!shown.contains("visitors-welcome"), "{shown}");
        assert!(shown.contains("never shown"), "{shown}");
        // Read back, the name stays and the password is simply not there.
        let again = file(&shown).unwrap();
        let reread = Settings::resolve(None, true, [again, Layer::default(), Layer::default()]);
        let reread = reread.booth_wifi().unwrap();
        assert_eq!(reread.ssid, "Booth 5G");
        assert!(reread.password.is_none());
        let env = from_env(|name| {
            (name == "C2C_PAIR_PRESENTER_WIFI_PASSWORD").then(|| "short".to_owned())
        });
        assert!(env.is_err(), "a WPA password has at least 8 characters");
        assert!(
            file("[presenter]\nwifi_ssid = \"\"\n")
                .unwrap()
                .get(&PRESENTER_WIFI_SSID)
                .is_none()
        );
    }

    #[test]
    fn every_declaration_has_its_own_key_variable_and_option() {
        let reserved = [FILE_ENV, "C2C_PAIR_CONFIG_DIR", "C2C_PAIR_KEYCHAIN_SERVICE"];
        let mut keys = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        let mut options = std::collections::BTreeSet::new();
        for spec in ALL {
            assert!(keys.insert(spec.key()), "{} declared twice", spec.key());
            let name = env_name(spec.key());
            assert!(!reserved.contains(&name.as_str()), "{name} is taken");
            assert!(names.insert(name.clone()), "{name} names two settings");
            if let Some(option) = spec.option() {
                assert!(options.insert(option.long), "--{} twice", option.long);
            }
            assert!(!spec.help().is_empty(), "{} has no help", spec.key());
        }
        assert!(names.contains("C2C_PAIR_PRESENTER_LINGER"));
    }

    #[test]
    fn the_readme_lists_every_setting_as_declared() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split_once("<!-- settings:begin -->\n")
            .and_then(|(_, rest)| rest.split_once("<!-- settings:end -->"))
            .map(|(block, _)| block);
        assert_eq!(
            block,
            Some(reference().as_str()),
            "README.md's settings table is out of date: put the output of \
             `cargo run -- config docs` between its settings markers"
        );
    }

    #[test]
    fn the_test_clip_note_comes_from_the_file_the_environment_or_its_default() {
        let none = || Layer::default();
        let settings = Settings::resolve(None, false, [none(), none(), none()]);
        assert!(settings.get(&UPLOAD_TEST_CLIP_NOTE));
        let from_file = file("[upload]\ntest_clip_note = false\n").unwrap();
        let settings = Settings::resolve(None, true, [from_file, none(), none()]);
        assert!(!settings.get(&UPLOAD_TEST_CLIP_NOTE));
        assert_eq!(settings.source("upload.test_clip_note"), Source::File);
        let from_env =
            from_env(|name| (name == "C2C_PAIR_UPLOAD_TEST_CLIP_NOTE").then(|| "off".to_owned()))
                .unwrap();
        let settings = Settings::resolve(None, false, [none(), from_env, none()]);
        assert!(!settings.get(&UPLOAD_TEST_CLIP_NOTE));
        assert_eq!(
            settings.source("upload.test_clip_note"),
            Source::Environment
        );
        let error = file("[upload]\ntest_clip_note = \"no\"\n").unwrap_err();
        assert!(
            error.to_string().contains("line 2: invalid type"),
            "{error}"
        );
    }
}

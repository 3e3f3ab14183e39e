//! What a setting is: its declaration ([`Setting`]), the types a setting can have
//! ([`SettingType`]), and the same declaration seen without its type ([`Spec`]), which is
//! what the file, the environment, the command line, `config show` and the docs walk over.
//!
//! Why our own table and not `figment`: figment turns the file into its own value tree before
//! a setting is checked, so a bad value can only be reported as "for key `presenter.linger`
//! in config.toml" — the line and its text are gone — and its environment provider names
//! "`C2C_PAIR_` environment variable(s)" rather than the variable that holds the bad value.
//! Both are messages users see today (README, Configuration). figment would also bring a
//! second `toml` (0.8 beside our 1.x). What is left to write is small: a typed declaration, a
//! walk over the file's spanned TOML (`toml` parses it), and one line per kind of value.

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use toml::de::DeValue;
use url::Url;

use super::Settings;
use super::parse;
use crate::c2c::profile::BodyEncoding;

/// One value of some setting, its type erased so a layer can hold every setting (the
/// setting's own [`SettingType`] reads it back).
#[derive(Clone)]
pub struct Value(Arc<dyn Any + Send + Sync>);

impl Value {
    /// Wraps a typed value.
    pub fn new<T: SettingType>(value: T) -> Self {
        Self(Arc::new(value))
    }

    /// The typed value, if it is a `T`.
    pub fn get<T: SettingType>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: a layer's debug output names keys only.
        f.write_str("Value(..)")
    }
}

/// A type a setting can have: how it is read from text (environment, option) and from the
/// file, and shown again as TOML.
pub trait SettingType: Clone + Send + Sync + 'static {
    /// What is checked beyond the type: a range of seconds, or the function reading the text.
    type Check: Copy + Send + Sync + 'static;
    /// Whether the value is kept out of sight (`config show` writes `""`).
    const SECRET: bool = false;
    /// Reads a value from text (an environment variable, an option).
    fn from_text(text: &str, check: Self::Check) -> Result<Self, String>;
    /// Reads a value from the configuration file.
    fn from_toml(value: &DeValue<'_>, check: Self::Check) -> Result<Self, String>;
    /// The value as TOML, for `config show` and the docs.
    fn to_toml(&self) -> String;
    /// What the docs say a value is ("seconds, 10 to 3600"); `name` is the setting's value name.
    fn describe(check: Self::Check, name: &str) -> String;
    /// What `config show` adds after where the value came from (", seconds").
    fn note(&self) -> &'static str {
        ""
    }
}

/// Seconds, checked against `(min, max)`.
impl SettingType for Duration {
    type Check = (f64, f64);

    fn from_text(text: &str, range: Self::Check) -> Result<Self, String> {
        parse::seconds_text(text, range)
    }

    fn from_toml(value: &DeValue<'_>, range: Self::Check) -> Result<Self, String> {
        let number = match value {
            DeValue::Integer(integer) if integer.radix() == 10 => integer.as_str().parse().ok(),
            // 0x, 0o, 0b: beyond i32 it is out of every range anyway.
            DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
                .ok()
                .and_then(|n| i32::try_from(n).ok())
                .map(f64::from),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            other => {
                return Err(invalid_type(
                    other,
                    &format!("a number of seconds between {} and {}", range.0, range.1),
                ));
            }
        };
        let number = number.ok_or_else(|| format!("{} is not a number", toml_text(value)))?;
        parse::seconds_in(number, range)
    }

    fn to_toml(&self) -> String {
        self.as_secs_f64().to_string()
    }

    fn describe((min, max): Self::Check, _: &str) -> String {
        format!("seconds, {min} to {max}")
    }

    fn note(&self) -> &'static str {
        ", seconds"
    }
}

/// A whole number, checked against `(min, max)`.
impl SettingType for u32 {
    type Check = (Self, Self);

    fn from_text(text: &str, range: Self::Check) -> Result<Self, String> {
        let number = text
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("{text:?} is not a whole number"))?;
        parse::count_in(number, range)
    }

    fn from_toml(value: &DeValue<'_>, range: Self::Check) -> Result<Self, String> {
        let number = match value {
            DeValue::Integer(integer) => {
                i64::from_str_radix(integer.as_str(), integer.radix()).ok()
            }
            other => {
                return Err(invalid_type(
                    other,
                    &format!("a whole number between {} and {}", range.0, range.1),
                ));
            }
        };
        let number = number.ok_or_else(|| format!("{} is not a number", toml_text(value)))?;
        parse::count_in(number, range)
    }

    fn to_toml(&self) -> String {
        self.to_string()
    }

    fn describe((min, max): Self::Check, _: &str) -> String {
        format!("a whole number, {min} to {max}")
    }
}

/// true or false (in text also 1/0, yes/no, on/off).
impl SettingType for bool {
    type Check = ();

    fn from_text(text: &str, (): Self::Check) -> Result<Self, String> {
        parse::flag(text)
    }

    fn from_toml(value: &DeValue<'_>, (): Self::Check) -> Result<Self, String> {
        match value {
            DeValue::Boolean(flag) => Ok(*flag),
            other => Err(invalid_type(other, "true or false")),
        }
    }

    fn to_toml(&self) -> String {
        self.to_string()
    }

    fn describe((): Self::Check, _: &str) -> String {
        "true or false".to_owned()
    }
}

/// A value written as a TOML string and read by its setting's own check.
pub trait TextType: Clone + Send + Sync + 'static {
    /// Whether the value is kept out of sight.
    const SECRET: bool = false;
    /// The text `config show` writes (quoted by the caller).
    fn text(&self) -> String;
    /// What `config show` adds after where the value came from.
    fn note(&self) -> &'static str {
        ""
    }
}

impl<T: TextType> SettingType for T {
    type Check = fn(&str) -> Result<T, String>;
    const SECRET: bool = <T as TextType>::SECRET;

    fn from_text(text: &str, check: Self::Check) -> Result<Self, String> {
        check(text)
    }

    fn from_toml(value: &DeValue<'_>, check: Self::Check) -> Result<Self, String> {
        match value {
            DeValue::String(text) => check(text),
            other => Err(invalid_type(other, "a string")),
        }
    }

    fn to_toml(&self) -> String {
        if <T as TextType>::SECRET {
            quoted("")
        } else {
            quoted(&self.text())
        }
    }

    fn describe(_: Self::Check, name: &str) -> String {
        name.to_owned()
    }

    fn note(&self) -> &'static str {
        <T as TextType>::note(self)
    }
}

impl TextType for String {
    fn text(&self) -> String {
        self.clone()
    }

    /// Only an optional endpoint can be empty: switched off.
    fn note(&self) -> &'static str {
        if self.is_empty() { ", off" } else { "" }
    }
}

impl TextType for Url {
    fn text(&self) -> String {
        self.as_str().to_owned()
    }
}

impl TextType for BodyEncoding {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl TextType for SocketAddr {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl TextType for PathBuf {
    fn text(&self) -> String {
        self.to_string_lossy().into_owned()
    }
}

impl TextType for SecretString {
    const SECRET: bool = true;

    fn text(&self) -> String {
        String::new()
    }
}

/// A setting that may have no value at all (no default): shown as `""` then.
impl<T: SettingType> SettingType for Option<T> {
    type Check = T::Check;
    const SECRET: bool = T::SECRET;

    fn from_text(text: &str, check: Self::Check) -> Result<Self, String> {
        T::from_text(text, check).map(Some)
    }

    fn from_toml(value: &DeValue<'_>, check: Self::Check) -> Result<Self, String> {
        T::from_toml(value, check).map(Some)
    }

    fn to_toml(&self) -> String {
        self.as_ref().map_or_else(|| quoted(""), T::to_toml)
    }

    fn describe(check: Self::Check, name: &str) -> String {
        T::describe(check, name)
    }

    fn note(&self) -> &'static str {
        self.as_ref().map_or("", T::note)
    }
}

/// A setting's command-line option.
#[derive(Debug, Clone, Copy)]
pub struct CliOption {
    /// The long name, without `--`.
    pub long: &'static str,
    /// Accepted after the command too (`c2c-pair status --api-base …`), not only before it.
    pub global: bool,
    /// For a switch: what it sets; `None`: the option takes a value.
    pub switch: Option<Switch>,
}

/// An option without a value that sets its setting to one value.
#[derive(Debug, Clone, Copy)]
pub struct Switch {
    /// The value it sets, as text (`"false"`).
    pub sets: &'static str,
    /// What the switch does, for `--help`.
    pub help: &'static str,
}

/// One setting, declared once: its key, type, check, default, option and help. Everything
/// else (the file, the environment, the option, `config show`, the docs) is driven by this.
#[derive(Clone, Copy)]
pub struct Setting<T: SettingType> {
    /// The key in the file; a dot names a table (`presenter.linger` is `linger` in
    /// `[presenter]`). The environment variable is derived from it.
    pub key: &'static str,
    /// What the setting does (the declaration's doc comment).
    pub help: &'static str,
    /// What is checked beyond the type.
    pub check: T::Check,
    /// The value when nothing sets it.
    pub default: fn() -> T,
    /// The docs' word for the default when it depends on the machine (`""`: the value).
    pub default_doc: &'static str,
    /// What the default means, said by `config show` while nothing sets the value.
    pub unset_note: &'static str,
    /// What `config show` always adds after the source.
    pub note: &'static str,
    /// The value's name in `--help` and the docs (`SECONDS`, `URL`).
    pub value_name: &'static str,
    /// The command-line option, if the setting has one.
    pub option: Option<CliOption>,
    /// An empty string in the file means "not set" (a setting without a default).
    pub empty_unsets: bool,
}

impl<T: SettingType> Setting<T> {
    /// A setting with a key, a check and a default; the builders below add the rest.
    pub const fn new(key: &'static str, check: T::Check, default: fn() -> T) -> Self {
        Self {
            key,
            help: "",
            check,
            default,
            default_doc: "",
            unset_note: "",
            note: "",
            value_name: "VALUE",
            option: None,
            empty_unsets: false,
        }
    }

    /// Sets the help text (the `settings!` macro passes the doc comment).
    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }

    /// Names the value in `--help` and the docs.
    pub const fn value_name(mut self, name: &'static str) -> Self {
        self.value_name = name;
        self
    }

    /// Says in the docs what a machine-dependent default is.
    pub const fn default_doc(mut self, doc: &'static str) -> Self {
        self.default_doc = doc;
        self
    }

    /// What `config show` says while nothing sets the value.
    pub const fn unset_note(mut self, note: &'static str) -> Self {
        self.unset_note = note;
        self
    }

    /// What `config show` always says after the source.
    pub const fn note(mut self, note: &'static str) -> Self {
        self.note = note;
        self
    }

    /// An empty string in the file leaves the setting unset.
    pub const fn empty_unsets(mut self) -> Self {
        self.empty_unsets = true;
        self
    }

    /// A command-line option accepted before the command only (`--presenter-linger`).
    pub const fn option(mut self, long: &'static str) -> Self {
        self.option = Some(CliOption {
            long,
            global: false,
            switch: None,
        });
        self
    }

    /// A command-line option accepted before or after the command (`--api-base`).
    pub const fn global_option(mut self, long: &'static str) -> Self {
        self.option = Some(CliOption {
            long,
            global: true,
            switch: None,
        });
        self
    }

    /// A switch without a value that sets the setting to `sets` (`--no-url-pairing`).
    pub const fn switch(
        mut self,
        long: &'static str,
        global: bool,
        sets: &'static str,
        help: &'static str,
    ) -> Self {
        self.option = Some(CliOption {
            long,
            global,
            switch: Some(Switch { sets, help }),
        });
        self
    }
}

impl Setting<Duration> {
    /// Seconds between `min` and `max`.
    pub const fn seconds(key: &'static str, min: f64, max: f64, default: fn() -> Duration) -> Self {
        Self::new(key, (min, max), default).value_name("SECONDS")
    }
}

impl<T: TextType> Setting<T> {
    /// A value written as text and read by `check`.
    pub const fn text(
        key: &'static str,
        check: fn(&str) -> Result<T, String>,
        default: fn() -> T,
    ) -> Self {
        Self::new(key, check, default)
    }
}

impl<T: TextType> Setting<Option<T>> {
    /// A value written as text and read by `check`, or none at all.
    pub const fn optional(
        key: &'static str,
        check: fn(&str) -> Result<T, String>,
        default: fn() -> Option<T>,
    ) -> Self {
        Self::new(key, check, default)
    }
}

impl Setting<u32> {
    /// A whole number between `min` and `max`.
    pub const fn count(key: &'static str, min: u32, max: u32, default: fn() -> u32) -> Self {
        Self::new(key, (min, max), default).value_name("N")
    }
}

impl Setting<bool> {
    /// true or false.
    pub const fn flag(key: &'static str, default: fn() -> bool) -> Self {
        Self::new(key, (), default).value_name("BOOL")
    }
}

/// A setting seen without its type: what the file, the environment, the command line,
/// `config show` and the docs need of it.
pub trait Spec: Sync {
    /// The key in the file.
    fn key(&self) -> &'static str;
    /// What the setting does, on one line.
    fn help(&self) -> String;
    /// The value's name (`SECONDS`).
    fn value_name(&self) -> &'static str;
    /// The command-line option, if any.
    fn option(&self) -> Option<CliOption>;
    /// Reads a value from text (environment, option).
    fn read_text(&self, text: &str) -> Result<Value, String>;
    /// Reads a value from the file; `None`: an empty string that leaves the setting unset.
    fn read_toml(&self, value: &DeValue<'_>) -> Result<Option<Value>, String>;
    /// The value in effect as TOML, and the note `config show` puts after its source.
    fn shown(&self, settings: &Settings) -> (String, String);
    /// The default, as the docs say it.
    fn default_doc(&self) -> String;
    /// What a value is, as the docs say it.
    fn describe(&self) -> String;
}

impl<T: SettingType> Spec for Setting<T> {
    fn key(&self) -> &'static str {
        self.key
    }

    fn help(&self) -> String {
        // A doc comment's lines each start with a space.
        self.help.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn value_name(&self) -> &'static str {
        self.value_name
    }

    fn option(&self) -> Option<CliOption> {
        self.option
    }

    fn read_text(&self, text: &str) -> Result<Value, String> {
        T::from_text(text, self.check).map(Value::new)
    }

    fn read_toml(&self, value: &DeValue<'_>) -> Result<Option<Value>, String> {
        if self.empty_unsets && matches!(value, DeValue::String(text) if text.is_empty()) {
            return Ok(None);
        }
        T::from_toml(value, self.check).map(|v| Some(Value::new(v)))
    }

    fn shown(&self, settings: &Settings) -> (String, String) {
        let value = settings.get(self);
        let chosen = settings.source(self.key) != super::Source::Default;
        let mut note = format!("{}{}", value.note(), self.note);
        if T::SECRET && chosen {
            note.push_str("; set, but never shown: keep it in your own file");
        }
        if !chosen {
            note.push_str(self.unset_note);
        }
        (value.to_toml(), note)
    }

    fn default_doc(&self) -> String {
        let value = if self.default_doc.is_empty() {
            format!("`{}`", (self.default)().to_toml())
        } else {
            self.default_doc.to_owned()
        };
        format!("{value}{}", self.unset_note)
    }

    fn describe(&self) -> String {
        T::describe(self.check, self.value_name)
    }
}

/// Declares the settings: each entry is a documented `const` of type [`Setting`], and
/// [`ALL`](super::table::ALL) lists them in order. The doc comment is the setting's help,
/// so a setting is written down exactly once.
macro_rules! settings {
    ($($(#[doc = $help:literal])+ $name:ident: $ty:ty = $setting:expr;)+) => {
        $(
            $(#[doc = $help])+
            pub const $name: Setting<$ty> = $setting.help(concat!($($help),+));
        )+
        /// Every setting, in the order `config show` and the docs list them.
        pub const ALL: &[&dyn Spec] = &[$(&$name),+];
    };
}
pub(super) use settings;

/// A TOML string literal.
pub fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// "invalid type: string \"long\", expected …", as serde says it.
fn invalid_type(found: &DeValue<'_>, expected: &str) -> String {
    format!("invalid type: {}, expected {expected}", toml_text(found))
}

/// A TOML value as an error message names it.
pub(super) fn toml_text(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(text) => format!("string {:?}", crate::printable::text(text)),
        DeValue::Integer(integer) => format!("integer `{integer}`"),
        DeValue::Float(float) => format!("float `{float}`"),
        DeValue::Boolean(flag) => format!("boolean `{flag}`"),
        DeValue::Datetime(datetime) => format!("datetime `{datetime}`"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

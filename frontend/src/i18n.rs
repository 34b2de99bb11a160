//! Every word the pages show, from one Fluent catalogue per language (`frontend/locales/`):
//! English, and German. The language comes from a choice this browser remembers, else the
//! browser's own languages, else English; the header's switch changes it at once, and
//! every text that came from the catalogue follows (the text reads the language signal).
//!
//! A failed transfer is worded from its code (`failures.rs`); only the server's sentences
//! that carry figures or specifics of their own (a quota, a rate limit's wait, why a
//! credential was refused) stay as the server wrote them.
use std::{cell::RefCell, collections::HashMap, sync::Arc};

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use leptos::prelude::*;
use unic_langid::LanguageIdentifier;

/// A language the pages are translated into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English (the catalogue every other one is checked against).
    En,
    /// German.
    De,
}

impl Lang {
    /// Every language, in the switch's order.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// The BCP 47 tag (`<html lang>`, the remembered choice).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The language's name in itself, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
        }
    }

    /// The catalogue.
    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../locales/en.ftl"),
            Lang::De => include_str!("../locales/de.ftl"),
        }
    }

    /// The language a tag such as `de-AT` or `en` asks for, if it is one of ours.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.tag() == primary)
    }

    /// The first of `preferred` (the browser's languages, best first) that is ours.
    pub fn negotiate<'a>(preferred: impl IntoIterator<Item = &'a str>) -> Lang {
        preferred
            .into_iter()
            .find_map(Lang::from_tag)
            .unwrap_or(Lang::En)
    }
}

/// Where the person's choice is remembered (`localStorage`; a language, nothing secret).
const STORAGE_KEY: &str = "ferry-lang";

thread_local! {
    /// The language the pages show, once [`init`] ran.
    static CURRENT: RefCell<Option<RwSignal<Lang>>> = const { RefCell::new(None) };
    /// Parsed catalogues, built on first use.
    static BUNDLES: RefCell<HashMap<Lang, FluentBundle<FluentResource>>> = RefCell::new(HashMap::new());
}

/// Builds `lang`'s bundle. Catalogue errors are caught by the tests (`catalogues_*`).
fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let id: LanguageIdentifier = lang.tag().parse().expect("a valid language tag");
    let mut bundle = FluentBundle::new(vec![id]);
    // No Unicode isolation marks around arguments: the pages show plain text.
    bundle.set_use_isolating(false);
    let resource = FluentResource::try_new(lang.source().to_owned()).unwrap_or_else(|(r, _)| r);
    let _ = bundle.add_resource(resource);
    bundle
}

/// Message `id` in `lang` with `args`: from `lang`'s catalogue, else English, else the ID
/// itself (so a missing message shows, and the catalogue test names it).
pub fn message(lang: Lang, id: &str, args: Option<&FluentArgs>) -> String {
    BUNDLES.with(|bundles| {
        let mut bundles = bundles.borrow_mut();
        for lang in [lang, Lang::En] {
            let bundle = bundles.entry(lang).or_insert_with(|| bundle(lang));
            if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned();
            }
        }
        id.to_owned()
    })
}

/// The language signal; English outside a running app (native tests).
pub fn current() -> Option<RwSignal<Lang>> {
    CURRENT.with(|c| *c.borrow())
}

/// The language now (tracked: a text that asks follows the switch).
pub fn lang() -> Lang {
    current().map_or(Lang::En, |l| l.get())
}

/// Message `id` in the current language.
pub fn t(id: &str) -> String {
    message(lang(), id, None)
}

/// Message `id` in the current language with named arguments (numbers select plurals).
pub fn t_args<'a>(id: &str, args: &[(&'a str, FluentValue<'a>)]) -> String {
    let mut fluent = FluentArgs::new();
    for (name, value) in args {
        fluent.set(*name, value.clone());
    }
    message(lang(), id, Some(&fluent))
}

/// A text worded when it is shown, in the language of that moment. What a page says after
/// an event (a failure, a refusal) is kept as this, not as a sentence, so that the
/// language switch re-words it too.
#[derive(Clone)]
pub struct Words(Arc<dyn Fn() -> String + Send + Sync>);

impl Words {
    /// Words from `word`, typically a closure around `tr!`.
    pub fn new(word: impl Fn() -> String + Send + Sync + 'static) -> Words {
        Words(Arc::new(word))
    }

    /// A sentence that was worded elsewhere (it stays in the language it was made in).
    pub fn fixed(text: String) -> Words {
        Words::new(move || text.clone())
    }

    /// The text, in the current language.
    pub fn text(&self) -> String {
        (self.0)()
    }
}

/// `tr!("id")` or `tr!("id", name = value, …)`: message `id` in the current language.
/// Values are numbers (which select plural forms) or strings.
#[macro_export]
macro_rules! tr {
    ($id:literal) => {
        $crate::i18n::t($id)
    };
    ($id:literal, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::i18n::t_args(
            $id,
            &[$((stringify!($name), ::fluent_bundle::FluentValue::from($value))),+],
        )
    };
}

/// Picks the language (the remembered choice, else the browser's), creates the signal the
/// texts read, and keeps `<html lang>` and the remembered choice in step with it.
pub fn init() -> RwSignal<Lang> {
    let storage = window().local_storage().ok().flatten();
    let remembered = storage
        .as_ref()
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
        .and_then(|tag| Lang::from_tag(&tag));
    let browser: Vec<String> = window()
        .navigator()
        .languages()
        .iter()
        .filter_map(|v| v.as_string())
        .collect();
    let chosen = remembered.unwrap_or_else(|| Lang::negotiate(browser.iter().map(String::as_str)));
    let signal = RwSignal::new(chosen);
    CURRENT.with(|c| *c.borrow_mut() = Some(signal));
    Effect::new(move |_| {
        let lang = signal.get();
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("lang", lang.tag());
        }
    });
    signal
}

/// Shows `lang` from now on, in a native test (which has no app to run [`init`]).
#[cfg(test)]
pub(crate) fn set_lang(lang: Lang) {
    CURRENT.with(|c| *c.borrow_mut() = Some(RwSignal::new(lang)));
}

/// Remembers the person's choice for the next visit.
pub fn remember(lang: Lang) {
    if let Some(storage) = window().local_storage().ok().flatten() {
        let _ = storage.set_item(STORAGE_KEY, lang.tag());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use fluent_syntax::{ast, parser};

    use super::*;

    /// The message IDs of a catalogue; panics on a syntax error.
    fn ids(lang: Lang) -> BTreeSet<String> {
        let resource = parser::parse(lang.source())
            .unwrap_or_else(|(_, errors)| panic!("{lang:?} catalogue: {errors:?}"));
        resource
            .body
            .iter()
            .filter_map(|entry| match entry {
                ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    /// Every message the web app's sources ask for with `tr!` (this file, which defines
    /// it, aside).
    fn used_ids() -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("i18n.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (at, _) in text.match_indices("tr!(") {
                        // `tr!` itself, not the end of another macro's name.
                        let before = text[..at].chars().next_back();
                        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                            continue;
                        }
                        // The ID may be on the next line (rustfmt).
                        if let Some(rest) = text[at + 4..].trim_start().strip_prefix('"') {
                            used.insert(rest.split('"').next().unwrap().to_owned());
                        }
                    }
                }
            }
        }
        used
    }

    #[test]
    fn catalogues_have_the_same_messages() {
        let english = ids(Lang::En);
        for lang in Lang::ALL {
            let other = ids(lang);
            let missing: Vec<_> = english.difference(&other).collect();
            let extra: Vec<_> = other.difference(&english).collect();
            assert!(missing.is_empty(), "{lang:?} lacks {missing:?}");
            assert!(
                extra.is_empty(),
                "{lang:?} has messages English lacks: {extra:?}"
            );
        }
    }

    #[test]
    fn every_text_the_pages_ask_for_is_in_the_catalogue() {
        let english = ids(Lang::En);
        let missing: Vec<_> = used_ids()
            .into_iter()
            .filter(|id| !english.contains(id))
            .collect();
        assert!(missing.is_empty(), "not in locales/en.ftl: {missing:?}");
        let unused: Vec<_> = english.difference(&used_ids()).cloned().collect();
        assert!(
            unused.is_empty(),
            "in locales/en.ftl but never used: {unused:?}"
        );
    }

    #[test]
    fn plurals_and_arguments_format_in_every_language() {
        let mut args = FluentArgs::new();
        args.set("n", 1);
        assert_eq!(message(Lang::En, "count-files", Some(&args)), "1 file");
        args.set("n", 3);
        assert_eq!(message(Lang::En, "count-files", Some(&args)), "3 files");
        assert_eq!(message(Lang::De, "count-files", Some(&args)), "3 Dateien");
        assert_eq!(
            message(Lang::De, "no-such-message", None),
            "no-such-message"
        );
    }

    #[test]
    fn the_browser_languages_pick_the_first_we_have() {
        assert_eq!(Lang::negotiate(["fr-FR", "de-AT", "en"]), Lang::De);
        assert_eq!(Lang::negotiate(["en-GB", "de"]), Lang::En);
        assert_eq!(Lang::negotiate(["fr", "ja"]), Lang::En);
        assert_eq!(Lang::negotiate([]), Lang::En);
    }
}

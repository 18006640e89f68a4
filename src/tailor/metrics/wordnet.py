"""WordNet for METEOR, offline: NLTK's own ``wordnet`` corpus where it is installed, else
the WordNet 3.0 files of Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages
(``/usr/share/wordnet``), copied once into an NLTK data folder under
``$TAILOR_HOME/nltk_data`` (NLTK reads corpora only from its data path, and refuses links
that leave it). Debian ships no ``lexnames``, the fixed table of WordNet's 45
lexicographer files that NLTK's reader opens first; it is written there too."""

from functools import cache
from pathlib import Path

from tailor.io import atomic_write_bytes
from tailor.paths import tailor_home

DEBIAN_WORDNET = Path("/usr/share/wordnet")
WORDNET_FILES = (
    [f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")]
    + [f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")]
    + ["index.sense"]
)
# WordNet 3.0's lexicographer files: number (the line's), name, part of speech (1 noun, 2 verb, 3 adjective, 4 adverb).
LEXNAMES = (
    ["adj.all 3", "adj.pert 3", "adv.all 4"]
    + [f"noun.{n} 1" for n in ("Tops", "act", "animal", "artifact", "attribute", "body", "cognition", "communication", "event", "feeling",
                               "food", "group", "location", "motive", "object", "person", "phenomenon", "plant", "possession", "process",
                               "quantity", "relation", "shape", "state", "substance", "time")]
    + [f"verb.{n} 2" for n in ("body", "change", "cognition", "communication", "competition", "consumption", "contact", "creation",
                               "emotion", "motion", "perception", "possession", "social", "stative", "weather")]
    + ["adj.ppl 3"]
)


def _debian_corpus(data: Path) -> bool:
    """Copy Debian's WordNet into ``data``/corpora/wordnet; False when it is not installed."""
    if not all((DEBIAN_WORDNET / name).is_file() for name in WORDNET_FILES):
        return False
    corpus = data / "corpora" / "wordnet"
    for name in WORDNET_FILES:
        if not (corpus / name).exists():
            atomic_write_bytes(corpus / name, (DEBIAN_WORDNET / name).read_bytes())
    lexnames = "".join(f"{n:02d}\t{entry.replace(' ', chr(9))}\n" for n, entry in enumerate(LEXNAMES)).encode()
    if not (corpus / "lexnames").exists() or (corpus / "lexnames").read_bytes() != lexnames:
        atomic_write_bytes(corpus / "lexnames", lexnames)
    return True


@cache
def wordnet():
    """NLTK's WordNet, or None when no WordNet is installed (METEOR is then not available)."""
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
    except LookupError:
        data = tailor_home() / "nltk_data"
        if not _debian_corpus(data):
            return None
        nltk.data.path.append(str(data))
    from nltk.corpus import wordnet as reader

    reader.ensure_loaded()
    return reader

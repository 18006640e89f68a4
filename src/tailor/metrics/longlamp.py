"""The numbers LongLaMP's evaluation reports over a whole response set: sacreBLEU,
ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum F-measure (``tailor.metrics.rouge``), and METEOR.
Like the benchmark, pairs whose prediction or reference is empty are skipped (and
counted). METEOR uses NLTK's scorer with the HF metric's weights (alpha 0.9, beta 3,
gamma 0.5) and WordNet (``tailor.metrics.wordnet``); it is None where no WordNet is
installed, and its tokens come from NLTK's Treebank tokenizer without sentence splitting
(NLTK's punkt model cannot be had offline), which differs from the benchmark's only at
sentence-final periods inside a text."""

import warnings
from statistics import mean

from tailor.metrics.rouge import rouge_scorer_for

ROUGE_KINDS = {"rouge1": "rouge-1", "rouge2": "rouge-2", "rougeL": "rouge-l", "rougeLsum": "rouge-lsum"}


def meteor(references: list[str], predictions: list[str]) -> float | None:
    from nltk.tokenize import word_tokenize
    from nltk.translate.meteor_score import single_meteor_score

    from tailor.metrics.wordnet import wordnet

    reader = wordnet()
    if reader is None:
        return None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions are not available", category=UserWarning)
        return mean(
            single_meteor_score(word_tokenize(r, preserve_line=True), word_tokenize(p, preserve_line=True), wordnet=reader, alpha=0.9, beta=3, gamma=0.5)
            for r, p in zip(references, predictions)
        )


def longlamp_report(references: list[str], predictions: list[str]) -> dict[str, float | int | None]:
    import sacrebleu

    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    pairs = [(r, p) for r, p in zip(references, predictions) if r.strip() and p.strip()]
    report: dict[str, float | int | None] = {"pairs": len(pairs), "skipped": len(references) - len(pairs)}
    if not pairs:
        return report | {"bleu": None, **{name: None for name in ROUGE_KINDS.values()}, "meteor": None}
    refs, preds = [r for r, _ in pairs], [p for _, p in pairs]
    scorer = rouge_scorer_for(list(ROUGE_KINDS))
    scores = [scorer.score(r, p) for r, p in pairs]
    report["bleu"] = sacrebleu.corpus_bleu(preds, [refs]).score
    report |= {name: mean(s[kind].fmeasure for s in scores) for kind, name in ROUGE_KINDS.items()}
    report["meteor"] = meteor(refs, preds)
    return report

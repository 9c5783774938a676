import pytest
from rouge_score import rouge_scorer

from physlora.grading.text_metrics import SemanticScorer, exact_match, normalize_answer, rouge_l, token_f1


def test_normalization_ignores_case_punctuation_articles_spaces():
    assert normalize_answer("  The Speed of  light!  ") == "speed of light"
    assert exact_match("The speed of light.", "speed of LIGHT") == 1.0
    assert exact_match("speed of sound", "speed of light") == 0.0


def test_token_f1_known_values():
    assert token_f1("a b c d", "a b c d") == 1.0
    assert token_f1("energy is conserved", "momentum") == 0.0
    # pred {energy, conserved} vs ref {energy, is, conserved, always}: P=1, R=0.5 (after normalisation)
    assert token_f1("energy conserved", "energy is conserved always") == pytest.approx(2 * 1 * 0.5 / 1.5)


@pytest.mark.parametrize("pred, ref", [
    ("The force equals mass times acceleration.", "Force is mass times acceleration, F = m a."),
    ("Light bends toward the normal.", "Refraction bends light toward the normal when it slows."),
    ("", "something"),
])
def test_rouge_l_equals_rouge_score(pred, ref):
    expected = rouge_scorer.RougeScorer(["rougeL"]).score(ref, pred)["rougeL"].fmeasure
    assert rouge_l(pred, ref) == pytest.approx(expected)


def test_semantic_similarity_orders_paraphrase_above_unrelated():
    s = SemanticScorer()
    ref = "Objects of different mass fall with the same acceleration in a vacuum."
    same, para, other = s.similarity(
        [ref, "In vacuum heavy and light bodies accelerate equally when falling.", "Bananas are rich in potassium."],
        [ref, ref, ref],
    )
    assert same == pytest.approx(1.0, abs=1e-4) and para > 0.6 > other

from physlora.prompting import build_completion, build_prompt, encode_example, encode_prompt
from physlora.scoring.likelihood import reference_nll

SYSTEM = "You are a physicist. Answer concisely and correctly."
Q, A = "Why is the sky blue?", "Rayleigh scattering favours short wavelengths, proportional to 1/lambda^4."


def test_chat_template_with_system_prompt(tokenizer):
    prompt = build_prompt(tokenizer, Q, SYSTEM)
    assert SYSTEM in prompt and Q in prompt and prompt.rstrip().endswith("assistant")


def test_training_prompt_equals_inference_prompt(tokenizer):
    ex = encode_example(tokenizer, Q, A, SYSTEM, max_length=512)
    prompt_ids = encode_prompt(tokenizer, Q, SYSTEM)  # what generation is given
    assert ex.input_ids[: len(prompt_ids)] == prompt_ids


def test_loss_mask_covers_exactly_the_answer_tokens(tokenizer):
    ex = encode_example(tokenizer, Q, A, SYSTEM, max_length=512)
    n_prompt = len(encode_prompt(tokenizer, Q, SYSTEM))
    assert all(label == -100 for label in ex.labels[:n_prompt])
    answer_labels = ex.labels[n_prompt:]
    assert -100 not in answer_labels and answer_labels == ex.input_ids[n_prompt:]
    decoded = tokenizer.decode(answer_labels)
    assert decoded == build_completion(tokenizer, Q, A, SYSTEM)
    assert decoded.startswith(A) and decoded.endswith(tokenizer.eos_token)  # learns to stop


def test_long_question_is_shortened_never_the_answer(tokenizer):
    long_q = "Consider this. " * 200 + Q
    ex = encode_example(tokenizer, long_q, A, SYSTEM, max_length=96)
    assert ex.truncated and len(ex.input_ids) <= 96
    answer = [t for t in ex.labels if t != -100]
    assert tokenizer.decode(answer) == build_completion(tokenizer, Q, A, SYSTEM)
    assert tokenizer.decode(ex.input_ids).startswith(build_prompt(tokenizer, "x", SYSTEM)[:30])  # template kept


def test_plain_fallback_without_chat_template(tokenizer):
    import copy

    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    assert build_prompt(plain, Q, None) == f"Question: {Q}\nAnswer:"
    ex = encode_example(plain, Q, A, None, 512)
    assert tokenizer.decode([t for t in ex.labels if t != -100]) == " " + A + plain.eos_token


def test_reference_nll_equals_the_training_loss(small):
    """The eval NLL uses exactly the tokens and mask of training: compare with the model's own loss."""
    import torch

    from physlora.data.records import Record

    ex = encode_example(small.tokenizer, Q, A, SYSTEM, 512)
    with torch.no_grad():
        loss = small.model(input_ids=torch.tensor([ex.input_ids]), labels=torch.tensor([ex.labels])).loss.item()
    recs = [Record("a", Q, A), Record("b", "What is g?", "About 9.8 m/s^2 near the surface.")]
    nll = reference_nll(small.model, small.tokenizer, recs, system_prompt=SYSTEM, batch_size=2)
    assert abs(nll[0] - loss) < 1e-4


def test_chat_history_enters_the_prompt(tokenizer):
    p = build_prompt(tokenizer, "And on the Moon?", SYSTEM, history=[("What is g on Earth?", "About 9.8 m/s^2.")])
    assert p.index("What is g on Earth?") < p.index("About 9.8 m/s^2.") < p.index("And on the Moon?")
    assert build_prompt(tokenizer, Q, SYSTEM, history=[]) == build_prompt(tokenizer, Q, SYSTEM)


# ---------------------------------------------------------------- BOS exactly once


def _bos_adding_tokenizer(tokenizer, template_writes_bos: bool):
    """The embedded tokenizer made to add a BOS token of its own (as Llama/Gemma tokenizers do), with a chat
    template that either writes that BOS itself or does not."""
    import copy

    from tokenizers.processors import TemplateProcessing

    tok = copy.deepcopy(tokenizer)
    bos = "<|endoftext|>"
    tok.bos_token = bos
    bos_id = tok.convert_tokens_to_ids(bos)
    tok._tokenizer.post_processor = TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, bos_id)])
    if template_writes_bos:
        tok.chat_template = "{{ bos_token }}" + tokenizer.chat_template
    assert tok("x")["input_ids"][0] == bos_id  # the tokenizer really adds it
    return tok, bos_id


def test_bos_added_once_when_the_template_does_not_write_it(tokenizer):
    from physlora.scoring.multiple_choice import encode_pair

    for writes in (False, True):
        tok, bos_id = _bos_adding_tokenizer(tokenizer, template_writes_bos=writes)
        prompt = encode_prompt(tok, Q, SYSTEM)
        assert prompt[0] == bos_id and prompt[1] != bos_id and prompt.count(bos_id) == 1, writes
        ex = encode_example(tok, Q, A, SYSTEM, max_length=512)  # training and reference NLL
        assert ex.input_ids[: len(prompt)] == prompt
        ctx, cont = encode_pair(tok, build_prompt(tok, Q, SYSTEM), " Rayleigh scattering")  # multiple choice
        # (the context's trailing newline moves into the continuation, as lm-evaluation-harness splits it)
        assert ctx == prompt[: len(ctx)] and ctx.count(bos_id) == 1 and cont and bos_id not in cont


def test_no_bos_added_for_a_tokenizer_that_adds_none(tokenizer):
    prompt = encode_prompt(tokenizer, Q, SYSTEM)
    assert prompt == tokenizer(build_prompt(tokenizer, Q, SYSTEM), add_special_tokens=False)["input_ids"]

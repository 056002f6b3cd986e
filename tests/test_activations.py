"""FFN activation hooks on tiny random BERT / XLM-R models built from config."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from factroots.attribution.activations import (  # noqa: E402
    ActivationWriter,
    capture_ffn_activations,
    encoder_layers,
    mask_positions_of,
    open_store,
)

MASK = 4
LAYERS, INTERMEDIATE = 3, 24


def tiny_model(kind: str, vocab_size: int = 64, **extra):
    common = dict(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=40,
        **extra,
    )
    torch.manual_seed(0)
    if kind == "bert":
        model = transformers.BertForMaskedLM(transformers.BertConfig(**common))
    else:
        model = transformers.XLMRobertaForMaskedLM(transformers.XLMRobertaConfig(**common))
    return model.eval()


def batch_ids() -> torch.Tensor:
    """Three unpadded rows with 1, 2 and 3 masks."""
    return torch.tensor(
        [
            [0, 7, 8, MASK, 9, 2, 10, 2],
            [0, MASK, MASK, 11, 12, 13, 14, 2],
            [0, 15, MASK, MASK, MASK, 16, 17, 2],
        ]
    )


def manual_mask_means(model, ids: torch.Tensor) -> np.ndarray:
    """Post-GELU FFN outputs recomputed layer by layer from the weights, averaged at masks."""
    layers = encoder_layers(model)
    with torch.no_grad():
        hidden = model.base_model.embeddings(input_ids=ids)
        per_layer = []
        for layer in layers:
            attention, _ = layer.attention(hidden, None)
            dense = layer.intermediate.dense
            inter = torch.nn.functional.gelu(
                torch.nn.functional.linear(attention, dense.weight, dense.bias)
            )
            per_layer.append(inter)
            hidden = layer.output(inter, attention)
        final = model(input_ids=ids, output_hidden_states=True).hidden_states[-1]
        assert torch.allclose(hidden, final, atol=1e-5)
    mask = (ids == MASK).float()
    means = [(inter * mask[..., None]).sum(1) / mask.sum(1, keepdim=True) for inter in per_layer]
    return torch.cat(means, dim=1).numpy()


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_capture_has_one_row_per_example_of_layers_times_intermediate(kind):
    model = tiny_model(kind)
    ids = batch_ids()
    with capture_ffn_activations(model) as capture, torch.no_grad():
        model(input_ids=ids)
        acts = capture.mask_means(mask_positions_of(ids, MASK))
    assert acts.shape == (3, LAYERS * INTERMEDIATE) and acts.dtype == np.float32


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_capture_equals_manual_computation_at_mask_positions(kind):
    model = tiny_model(kind)
    ids = batch_ids()
    with capture_ffn_activations(model) as capture, torch.no_grad():
        model(input_ids=ids)
        acts = capture.mask_means(mask_positions_of(ids, MASK))
    np.testing.assert_allclose(acts, manual_mask_means(model, ids), rtol=1e-5, atol=1e-6)


def test_capture_accepts_a_boolean_mask_tensor():
    model = tiny_model("bert")
    ids = batch_ids()
    with capture_ffn_activations(model) as capture, torch.no_grad():
        model(input_ids=ids)
        from_lists = capture.mask_means(mask_positions_of(ids, MASK))
        model(input_ids=ids)
        from_tensor = capture.mask_means(ids == MASK)
    np.testing.assert_array_equal(from_lists, from_tensor)


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_capturing_does_not_change_outputs_or_predictions(kind):
    model = tiny_model(kind)
    ids = torch.tensor([[0, 7, MASK, 9, 2, 1, 1], [0, MASK, MASK, 11, 12, 13, 2]])
    attention = (ids != 1).long()
    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=attention).logits
        with capture_ffn_activations(model) as capture:
            hooked = model(input_ids=ids, attention_mask=attention).logits
            capture.mask_means(mask_positions_of(ids, MASK))
    torch.testing.assert_close(hooked, plain, rtol=0, atol=0)
    assert torch.equal(hooked.argmax(-1), plain.argmax(-1))


def test_hooks_are_removed_after_the_block():
    model = tiny_model("bert")
    with capture_ffn_activations(model) as capture:
        pass
    with torch.no_grad():
        model(input_ids=batch_ids())
    assert all(not parts for parts in capture.outputs)


def test_chunked_feed_forward_is_captured_whole():
    ids = batch_ids()
    results = []
    for chunk in (0, 4):
        model = tiny_model("bert", chunk_size_feed_forward=chunk)
        with capture_ffn_activations(model) as capture, torch.no_grad():
            model(input_ids=ids)
            results.append(capture.mask_means(mask_positions_of(ids, MASK)))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-7)


def test_real_vocab_size_model_captures_mask_positions():
    model = tiny_model("bert", vocab_size=119547)
    ids = batch_ids()
    with capture_ffn_activations(model) as capture, torch.no_grad():
        model(input_ids=ids)
        acts = capture.mask_means(mask_positions_of(ids, MASK))
    np.testing.assert_allclose(acts, manual_mask_means(model, ids), rtol=1e-5, atol=1e-6)


def test_example_without_mask_is_an_error():
    model = tiny_model("bert")
    with capture_ffn_activations(model) as capture, torch.no_grad():
        model(input_ids=batch_ids())
        with pytest.raises(ValueError):
            capture.mask_means([[3], [1], []])


def test_saved_activations_round_trip_as_fp16(tmp_path):
    writer = ActivationWriter(tmp_path, "tiny", LAYERS, INTERMEDIATE)
    acts = np.random.default_rng(0).random((5, LAYERS * INTERMEDIATE)).astype(np.float32)
    writer.add("en", ["a", "b"], ["P1", "P1"], acts[:2])
    writer.add("en", ["c", "d", "e"], ["P2", "P2", "P2"], acts[2:])
    writer.close()
    array, uuids, relations = open_store(tmp_path).load("en")
    assert array.dtype == np.float16 and uuids == list("abcde")
    assert relations == ["P1", "P1", "P2", "P2", "P2"]
    np.testing.assert_array_equal(array, acts.astype(np.float16))

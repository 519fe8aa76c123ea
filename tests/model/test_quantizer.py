import pytest
import torch

from ivr.model import GumbelVectorQuantizer
from ivr.model.pretrain import diversity_loss
from ivr.model.quantizer import codebook_perplexity
from tests.model.helpers import small_dims


def quantizer(seed=0):
    torch.manual_seed(seed)
    return GumbelVectorQuantizer(small_dims())


def test_hard_choice_per_codebook_and_shapes():
    q = quantizer().eval()
    dims = small_dims()
    x = torch.randn(2, 7, dims.conv_dim)
    out = q(x, torch.ones(2, 7, dtype=torch.bool), temperature=2.0)
    assert out.codevectors.shape == (2, 7, dims.codevector_dim)
    assert out.avg_probs.shape == (dims.num_codebooks, dims.codebook_size)
    book = q.codevectors.reshape(dims.num_codebooks, dims.codebook_size, -1)
    for g in range(dims.num_codebooks):
        part = out.codevectors[..., g * 8 : (g + 1) * 8].reshape(-1, 1, 8)  # each entry is one of the V
        assert ((part - book[g][None]).abs().sum(-1) < 1e-6).any(-1).all()


def test_training_is_straight_through():
    q = quantizer().train()
    x = torch.randn(2, 5, small_dims().conv_dim, requires_grad=True)
    out = q(x, torch.ones(2, 5, dtype=torch.bool), temperature=1.0)
    out.codevectors.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert q.weight_proj.weight.grad is not None and q.codevectors.grad is not None


def test_padding_does_not_count_in_the_perplexity():
    q = quantizer().eval()
    x = torch.randn(1, 6, small_dims().conv_dim)
    valid = torch.tensor([[True, True, True, False, False, False]])
    padded = torch.cat([x[:, :3], 50 * torch.randn(1, 3, small_dims().conv_dim)], dim=1)
    a = q(x[:, :3], valid[:, :3], 1.0).perplexity
    b = q(padded, valid, 1.0).perplexity
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("groups", "entries"), [(2, 320), (2, 16)])
def test_diversity_loss_is_zero_for_uniform_use_and_near_one_for_collapse(groups, entries):
    uniform = torch.full((groups, entries), 1.0 / entries)
    collapsed = torch.zeros(groups, entries)
    collapsed[:, 0] = 1.0
    assert diversity_loss(codebook_perplexity(uniform), groups, entries).item() == pytest.approx(
        0.0, abs=1e-4
    )
    assert diversity_loss(codebook_perplexity(collapsed), groups, entries).item() == pytest.approx(
        1 - 1 / entries, abs=1e-4
    )


def test_diversity_from_the_quantizer_uniform_vs_collapsed():
    q = quantizer().eval()
    dims = small_dims()
    G, V = dims.num_codebooks, dims.codebook_size
    with torch.no_grad():
        q.weight_proj.weight.zero_()
        q.weight_proj.bias.zero_()  # every frame: flat softmax -> uniform usage
        uniform = q(torch.randn(3, 9, dims.conv_dim), torch.ones(3, 9, dtype=torch.bool), 1.0)
        q.weight_proj.bias.view(G, V)[:, 0] = 30.0  # every frame picks entry 0
        collapsed = q(torch.randn(3, 9, dims.conv_dim), torch.ones(3, 9, dtype=torch.bool), 1.0)
    assert diversity_loss(uniform.perplexity, G, V).item() == pytest.approx(0.0, abs=1e-3)
    assert diversity_loss(collapsed.perplexity, G, V).item() == pytest.approx(1 - 1 / V, abs=1e-3)

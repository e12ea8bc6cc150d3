"""Residual quantiser (k-means init, EMA, dead-code restarts, straight-through, residual levels, DDP
statistics) and the residual VQ-VAE (training on smooth pose-like keyframes, causality, masking, layout)."""
import math
import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from model.quantizer import Codebook, ResidualQuantizer
from model.vqvae import ResidualVQVAE, VQConfig, indices_from_tokens, tokens_from_indices


def clustered_points(count: int, clusters: int, dim: int, spread: float = 0.3, seed: int = 0) -> torch.Tensor:
    """(count, dim) points around `clusters` random centres."""
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(clusters, dim, generator=g)
    return centres[torch.randint(clusters, (count,), generator=g)] + spread * torch.randn(count, dim, generator=g)


def quantisation_error(codebook: Codebook, x: torch.Tensor) -> float:
    return (x - codebook.lookup(codebook.nearest(x))).pow(2).sum(1).mean().item()


def test_kmeans_init_beats_its_random_seed_rows():
    x = clustered_points(2000, clusters=12, dim=4)
    errors = {}
    for iters in (0, 10):
        torch.manual_seed(1)
        codebook = Codebook(size=16, dim=4, kmeans_iters=iters)
        codebook.kmeans_init(x)
        errors[iters] = quantisation_error(codebook, x)
    random_codebook = Codebook(size=16, dim=4)
    assert errors[10] < 0.6 * errors[0], errors
    assert errors[10] < 0.1 * quantisation_error(random_codebook, x)
    assert codebook.inited and math.isclose(codebook.cluster_size.sum().item(), 2000)


def test_ema_update_moves_assigned_code_to_the_mean_of_its_vectors():
    torch.manual_seed(0)
    codebook = Codebook(size=4, dim=3, decay=0.9)
    codebook.embed.copy_(torch.eye(4, 3) * 5)
    codebook.embed_avg.copy_(codebook.embed)
    codebook.cluster_size.fill_(1.0)
    target = torch.tensor([4.0, 1.0, 0.0])
    batch = target + 0.1 * torch.randn(64, 3)
    before = (codebook.embed[0] - target).norm().item()
    distances = []
    for _ in range(60):
        indices = codebook.nearest(batch)
        assert (indices == 0).all()
        codebook.ema_update(*codebook.statistics(batch, indices))
        distances.append((codebook.embed[0] - batch.mean(0)).norm().item())
    assert distances[0] < before
    assert all(b <= a + 1e-6 for a, b in zip(distances, distances[1:]))
    assert distances[-1] < 0.01 * before


def test_dead_codes_are_restarted_from_batch_vectors_deterministically():
    x = clustered_points(256, clusters=3, dim=4, seed=3)
    restarted = []
    for _ in range(2):
        torch.manual_seed(7)
        quantizer = ResidualQuantizer(depth=1, codebook_size=8, dim=4, dead_code_threshold=1.0).train()
        codebook = quantizer.levels[0]
        codebook.kmeans_init(x)
        codebook.cluster_size[5] = 1.5
        codebook.embed[5] = 100.0  # far from all data: never chosen again, its count decays below 1
        codebook.embed_avg[5] = 100.0 * codebook.cluster_size[5]
        for step in range(100):
            quantizer(x[None])
            if codebook.embed[5].norm() < 50:
                break
        assert 30 < step < 60, "0.99^step * 1.5 falls below 1 after about 40 steps"
        fresh = codebook.embed[5]
        assert (x - fresh).abs().sum(1).min() < 1e-5, "a restarted code is a vector of the batch"
        assert codebook.cluster_size[5] >= 1.0
        restarted.append(fresh.clone())
    assert torch.equal(restarted[0], restarted[1])


def test_straight_through_gradient_and_commitment_gradient():
    torch.manual_seed(0)
    quantizer = ResidualQuantizer(depth=2, codebook_size=8, dim=4).eval()
    z = torch.randn(2, 5, 4, requires_grad=True)
    out = quantizer(z)
    weights = torch.randn_like(z)
    (out.latent * weights).sum().backward()
    assert torch.allclose(z.grad, weights)
    z.grad = None
    quantizer(z).commit.backward()
    assert z.grad.abs().sum() > 0


def test_residual_levels_reduce_error_monotonically():
    x = torch.randn(1, 4000, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    quantizer = ResidualQuantizer(depth=4, codebook_size=32, dim=8, dead_code_threshold=0.0).train()
    for _ in range(5):
        quantizer(x)
    quantizer.eval()
    held_out = torch.randn(1, 2000, 8, generator=torch.Generator().manual_seed(1))
    indices = quantizer.encode(held_out)
    errors = [held_out.pow(2).mean().item()]
    for depth in range(1, 5):
        partial = sum(quantizer.levels[l].lookup(indices[..., l]) for l in range(depth))
        errors.append((held_out - partial).pow(2).mean().item())
    assert all(b < 0.95 * a for a, b in zip(errors, errors[1:])), errors
    assert torch.allclose(quantizer.decode(indices), partial)
    assert torch.equal(quantizer(held_out).indices, indices)


def _ddp_worker(rank: int, world: int, init_file: str, result_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    x = clustered_points(400, clusters=6, dim=4, seed=11)
    torch.manual_seed(rank)  # different local RNG: shared codebooks must come from the collectives
    quantizer = ResidualQuantizer(depth=2, codebook_size=8, dim=4, dead_code_threshold=1.0).train()
    for step in range(3):
        quantizer(x[None, rank * 200:(rank + 1) * 200] + 0.1 * step)
    buffers = torch.cat([b.flatten().float() for b in quantizer.buffers()])
    gathered = [torch.zeros_like(buffers) for _ in range(world)]
    dist.all_gather(gathered, buffers)
    if rank == 0:
        torch.save(gathered, result_file)
    dist.destroy_process_group()


def test_ddp_ranks_keep_identical_codebooks_and_ema_equals_the_global_batch():
    with tempfile.TemporaryDirectory() as tmp:
        result_file = os.path.join(tmp, "buffers.pt")
        mp.spawn(_ddp_worker, args=(2, os.path.join(tmp, "init"), result_file), nprocs=2)
        rank0, rank1 = torch.load(result_file)
    assert torch.equal(rank0, rank1)
    # EMA statistics over 2 ranks = one process on the concatenated batch (same codebook, no restarts)
    x = clustered_points(400, clusters=6, dim=4, seed=11)
    single = Codebook(size=8, dim=4)
    single.kmeans_init(x)
    indices = single.nearest(x)
    counts, sums = single.statistics(x, indices)
    halves = [single.statistics(x[:200], indices[:200]), single.statistics(x[200:], indices[200:])]
    assert torch.allclose(counts, halves[0][0] + halves[1][0])
    assert torch.allclose(sums, halves[0][1] + halves[1][1], atol=1e-5)


def smooth_keyframes(batch: int, frames: int, feats: int, seed: int) -> torch.Tensor:
    """(batch, frames, feats) pose-like keyframes: 3 slow random sinusoids around random offsets per
    sequence, mixed into `feats` correlated channels by a fixed matrix; roughly unit variance."""
    mixing = torch.randn(3, feats, generator=torch.Generator().manual_seed(123)) / math.sqrt(3)
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames).float()
    freqs = 0.05 + 0.2 * torch.rand(batch, 3, 1, generator=g)
    phases = 2 * math.pi * torch.rand(batch, 3, 1, generator=g)
    offsets = 0.5 * torch.randn(batch, 3, 1, generator=g)
    latent = torch.sin(2 * math.pi * freqs * t + phases) + offsets  # (batch, 3, frames)
    return latent.transpose(1, 2) @ mixing


def tiny_vq_config(**overrides) -> VQConfig:
    values = dict(nfeats=12, codebook_size=32, depth=3, emb_width=16, dead_code_threshold=1.0)
    values.update(overrides)
    return VQConfig(**values)


def test_vqvae_learns_smooth_keyframes_with_healthy_codebooks():
    torch.manual_seed(0)
    model = ResidualVQVAE(tiny_vq_config(emb_width=32, loss_vel=0.1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.99))
    held_out = smooth_keyframes(64, 16, 12, seed=10_000)
    model.eval()
    initial_mse = model.loss(held_out)[1]["mse"].item()
    model.train()
    for step in range(1000):  # the deep causal stacks sit on a plateau for ~300 steps before they fit
        loss, metrics = model.loss(smooth_keyframes(32, 16, 12, seed=step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    recon = model.decode(model.encode(held_out))
    mse = (recon - held_out).pow(2).mean().item()
    indices = model.encode(held_out)
    usage = [indices[..., l].unique().numel() / 32 for l in range(3)]
    print(f"held-out MSE {mse:.4f} (data variance {held_out.var().item():.3f}, untrained {initial_mse:.3f}); "
          f"codebook usage per level {usage}; train metrics {({k: round(v.item(), 3) for k, v in metrics.items()})}")
    assert mse < 0.05 * held_out.var().item()
    assert min(usage) > 0.3
    assert metrics["perplexity_l0"] > 8 and "vel" in metrics


def test_forward_encode_decode_agree_and_token_layout_round_trips():
    torch.manual_seed(0)
    model = ResidualVQVAE(tiny_vq_config())
    model.train()
    model.loss(smooth_keyframes(8, 10, 12, seed=0))  # k-means initialise the codebooks
    model.eval()
    x = smooth_keyframes(3, 10, 12, seed=1)
    recon, out = model(x)
    indices = model.encode(x)
    assert indices.shape == (3, 10, 3) and indices.dtype == torch.int64
    assert torch.equal(out["indices"], indices)
    assert torch.allclose(model.decode(indices), recon, atol=1e-6)
    tokens = tokens_from_indices(indices)
    assert tokens.shape == (3, 30)
    assert torch.equal(tokens[:, 3:6], indices[:, 1]), "keyframe-major, then level"
    assert torch.equal(indices_from_tokens(tokens, 3), indices)
    with pytest.raises(ValueError, match="whole number of keyframes"):
        indices_from_tokens(tokens[:, :-1], 3)


def test_encoder_and_decoder_are_causal_in_time():
    torch.manual_seed(0)
    model = ResidualVQVAE(tiny_vq_config()).eval()
    x = smooth_keyframes(2, 12, 12, seed=0)
    changed = x.clone()
    changed[:, 7] += 3.0
    latent, latent_changed = model.encoder(x), model.encoder(changed)
    assert torch.equal(latent[:, :7], latent_changed[:, :7])
    assert not torch.allclose(latent[:, 7], latent_changed[:, 7])
    indices = model.encode(x)
    assert torch.equal(indices[:, :7], model.encode(changed)[:, :7])
    other = indices.clone()
    other[:, 7] = (other[:, 7] + 1) % 32
    recon, recon_other = model.decode(indices), model.decode(other)
    assert torch.equal(recon[:, :7], recon_other[:, :7])
    assert not torch.allclose(recon[:, 7:], recon_other[:, 7:])


def test_padded_keyframes_do_not_affect_loss_or_codebooks():
    x = smooth_keyframes(4, 10, 12, seed=0)
    mask = torch.ones(4, 10, dtype=torch.bool)
    mask[1, 6:] = False
    mask[3, 2:] = False
    results = []
    for garbage in (0.0, 50.0):
        padded = x.clone()
        padded[~mask] = garbage
        torch.manual_seed(0)
        model = ResidualVQVAE(tiny_vq_config(loss_vel=0.5)).train()
        loss, metrics = model.loss(padded, mask)
        results.append((loss.item(), metrics, model.quantizer.state_dict()))
    assert results[0][0] == results[1][0]
    for name, buffer in results[0][2].items():
        assert torch.equal(buffer, results[1][2][name]), name


def test_velocity_loss_is_along_time():
    class FixedRecon(ResidualVQVAE):
        def forward(self, x, mask=None):
            return self.recon, dict(commit=torch.zeros(()), perplexity=torch.ones(1), usage=torch.ones(1))

    model = FixedRecon(tiny_vq_config(depth=1, loss_vel=1.0))
    x = smooth_keyframes(2, 8, 12, seed=0)
    model.recon = x + 0.5  # same changes over time, different values
    assert model.loss(x)[1]["vel"].item() < 1e-7
    model.recon = x + torch.linspace(0, 1, 8)[None, :, None]  # drifts over time, equal across features
    assert model.loss(x)[1]["vel"].item() > 1e-3

"""Diffusion: schedules, respacing, the masked x0 loss, samplers against the exact denoiser of Gaussian data,
call counts, and classifier-free guidance in one batched pass."""
import math

import pytest
import torch

from diffusion import GaussianDiffusion, guided_denoiser, make_betas, make_schedule, respaced_timesteps, sample

MU, S = 0.7, 0.3  # toy data: x0 ~ N(MU, S² I)
ALPHAS_CUMPROD = GaussianDiffusion().alphas_cumprod


def optimal_denoiser(x_t, t):
    """E[x0 | x_t] for x0 ~ N(MU, S² I) under the cosine schedule (the best possible x0 predictor)."""
    a = ALPHAS_CUMPROD[t].sqrt().float().view(-1, 1, 1)
    var = (1 - ALPHAS_CUMPROD[t]).float().view(-1, 1, 1)
    return MU + a * S**2 / (a**2 * S**2 + var) * (x_t - a * MU)


def exact_flow(x_start, start_step):
    """Where the probability-flow ODE carries x_start from step `start_step` to clean data, for the toy data."""
    ab = ALPHAS_CUMPROD[start_step].item()
    return MU + S * (x_start - math.sqrt(ab) * MU) / math.sqrt(ab * S**2 + 1 - ab)


class CountingModel:
    """model(x, t, cond) -> a prediction depending on x, t and cond; records the batch size of every call."""

    def __init__(self):
        self.batch_sizes, self.steps = [], []

    def __call__(self, x, t, cond=None):
        self.batch_sizes.append(x.shape[0])
        self.steps.append(t.tolist())
        out = 0.5 * x + t.view(-1, 1, 1) / 1000
        if cond is not None:
            out = out + cond["audio"].mean(dim=1, keepdim=True) + cond["keyframes"][:, :1]
        return out


def test_cosine_schedule_matches_closed_form():
    def alpha_bar(s):
        return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = make_betas("cosine", 1000)
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    for i in (0, 10, 500, 900, 990):
        assert alphas_cumprod[i].item() == pytest.approx(alpha_bar((i + 1) / 1000) / alpha_bar(0), rel=1e-9)
    assert betas.max().item() == pytest.approx(0.999)  # clipped at the end
    assert torch.all(betas[1:] >= betas[:-1])
    linear = make_betas("linear", 100)
    assert linear[0].item() == pytest.approx(1e-3) and linear[-1].item() == pytest.approx(0.2)
    with pytest.raises(ValueError, match="unknown noise schedule"):
        make_betas("quadratic")


def test_respacing_rules():
    assert respaced_timesteps("ddim10") == list(range(0, 1000, 100))
    assert respaced_timesteps("ddim500") == list(range(0, 1000, 2))
    assert respaced_timesteps("ddim100") == list(range(0, 1000, 10))
    assert respaced_timesteps("") == respaced_timesteps("ddim1000") == list(range(1000))
    sections = respaced_timesteps("10,20,5")
    assert len(sections) == 35
    assert [sum(lo <= s < hi for s in sections) for lo, hi in ((0, 334), (334, 667), (667, 1000))] == [10, 20, 5]
    assert sections[0] == 0 and sections[-1] == 999
    with pytest.raises(ValueError, match="ddim300"):
        respaced_timesteps("ddim300")
    with pytest.raises(ValueError, match="comma-separated"):
        respaced_timesteps("fast")


def test_respaced_process_keeps_alphas_cumprod_and_original_indices():
    base = make_schedule("cosine", 1000)
    plan = make_schedule("cosine", 1000, "ddim10")
    assert plan.timesteps.tolist() == list(range(0, 1000, 100))
    assert torch.equal(plan.alphas_cumprod, base.alphas_cumprod[::100])
    assert torch.allclose(torch.cumprod(1 - plan.betas, 0), plan.alphas_cumprod, rtol=1e-12)
    assert plan.betas[1].item() > base.betas[100].item() * 50  # a respaced step spans 100 base steps


def test_q_sample_statistics():
    diffusion = GaussianDiffusion()
    x0 = torch.full((20000, 1, 1), 2.0)
    generator = torch.Generator().manual_seed(0)
    for step in (0, 300, 700, 999):
        t = torch.full((20000,), step)
        x_t = diffusion.q_sample(x0, t, torch.randn(x0.shape, generator=generator))
        ab = ALPHAS_CUMPROD[step].item()
        assert x_t.mean().item() == pytest.approx(2 * math.sqrt(ab), abs=0.03)
        assert x_t.std().item() == pytest.approx(math.sqrt(1 - ab), abs=0.02)


def test_loss_is_normalised_per_sample_by_valid_frames_and_channels():
    diffusion = GaussianDiffusion()
    x0 = torch.randn(2, 12, 5)
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[0, :3], mask[1, :12] = True, True
    valid = mask.clone()
    valid[1, 4] = False
    offset = torch.zeros(2, 12, 5)
    offset[:, :, 0] = 2.0  # every counted frame is off by 2 in one of 5 channels -> rec = 4/5 per sample
    offset[mask & ~valid] = 100.0  # huge errors in frames that do not count
    offset[~mask] = -50.0
    losses = diffusion.training_loss(lambda x_t, t: x0 + offset, x0, valid, mask, torch.arange(2), lambda_vel=1.0)
    assert losses["rec"].item() == pytest.approx(0.8)
    assert losses["vel"].item() == pytest.approx(0.0)  # the offset is constant across the counted pairs
    assert losses["loss"].item() == pytest.approx(0.8)


def test_masked_and_invalid_frames_do_not_affect_the_loss():
    diffusion = GaussianDiffusion()
    x0 = torch.randn(3, 16, 4)
    mask = torch.arange(16).expand(3, 16) < torch.tensor([[16], [10], [7]])
    valid = mask.clone()
    valid[0, 5:8] = False  # e.g. missing face codes inside the clip

    def per_frame_model(x_t, t):
        return torch.tanh(x_t) * (1 + t.view(-1, 1, 1) / 1000)

    seeds = torch.tensor([3, 4, 5])
    reference = diffusion.training_loss(per_frame_model, x0, valid, mask, seeds, lambda_vel=2.0)
    changed = x0.clone()
    changed[~(valid & mask)] = 1000.0
    again = diffusion.training_loss(per_frame_model, changed, valid, mask, seeds, lambda_vel=2.0)
    for key in ("loss", "rec", "vel"):
        assert again[key].item() == pytest.approx(reference[key].item(), rel=1e-6)
    counted = x0.clone()
    counted[0, 2] += 1.0
    moved = diffusion.training_loss(per_frame_model, counted, valid, mask, seeds, lambda_vel=2.0)["loss"]
    assert moved.item() != pytest.approx(reference["loss"].item(), rel=1e-6)


def test_per_sample_seeds_make_the_loss_independent_of_batch_composition():
    diffusion = GaussianDiffusion()
    x0 = torch.randn(4, 10, 3)
    full = torch.ones(4, 10, dtype=torch.bool)
    seeds = torch.tensor([11, 12, 13, 14])
    seen = []

    def spy(x_t, t):
        seen.append((x_t.clone(), t.clone()))
        return 0.9 * x_t

    whole = diffusion.training_loss(spy, x0, full, full, seeds, lambda_vel=2.0)["loss"]
    halves = [diffusion.training_loss(spy, x0[i:i + 2], full[i:i + 2], full[i:i + 2], seeds[i:i + 2],
                                      lambda_vel=2.0)["loss"] for i in (0, 2)]
    assert torch.equal(seen[0][1], torch.cat([seen[1][1], seen[2][1]]))  # same timesteps per item
    assert torch.equal(seen[0][0], torch.cat([seen[1][0], seen[2][0]]))  # same noised input per item
    assert whole.item() == pytest.approx((halves[0].item() + halves[1].item()) / 2, rel=1e-6)
    repeat = diffusion.training_loss(spy, x0, full, full, seeds, lambda_vel=2.0)["loss"]
    assert repeat.item() == whole.item()
    other = diffusion.training_loss(spy, x0, full, full, seeds + 100, lambda_vel=2.0)["loss"]
    assert other.item() != whole.item()
    assert len(set(seen[0][1].tolist())) > 1  # items of a batch get different timesteps


def test_training_loss_falls_when_the_denoiser_learns():
    torch.manual_seed(0)
    diffusion = GaussianDiffusion()
    gain, bias = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([gain, bias], lr=0.05)
    x0 = MU + S * torch.randn(8, 6, 2)
    full = torch.ones(8, 6, dtype=torch.bool)
    losses = []
    for step in range(60):
        loss = diffusion.training_loss(lambda x_t, t: gain * x_t + bias, x0, full, full,
                                       torch.arange(8) + 8 * step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_all_step_samplers_reproduce_the_data_distribution(sampler):
    x = sample(optimal_denoiser, (1000, 1, 8), timestep_respacing="", sampler=sampler,
               generator=torch.Generator().manual_seed(0))
    assert x.mean().item() == pytest.approx(MU, abs=0.01)
    assert x.std().item() == pytest.approx(S, rel=0.03)


def test_dpm_solver_few_steps_follows_the_exact_flow_better_than_ddim():
    x_start = torch.randn(1000, 1, 8, generator=torch.Generator().manual_seed(1))
    target = exact_flow(x_start, respaced_timesteps("ddim20")[-1])
    errors = {}
    for sampler in ("ddim", "dpmpp2m"):
        x = sample(optimal_denoiser, x_start.shape, timestep_respacing="ddim20", sampler=sampler, noise=x_start)
        errors[sampler] = (x - target).pow(2).mean().sqrt().item()
    assert errors["dpmpp2m"] < 0.015 and errors["dpmpp2m"] < errors["ddim"] / 2
    x = sample(optimal_denoiser, x_start.shape, timestep_respacing="ddim20", sampler="dpmpp2m", noise=x_start)
    assert x.mean().item() == pytest.approx(MU, abs=0.03)
    assert x.std().item() == pytest.approx(S, rel=0.05)
    x10 = sample(optimal_denoiser, x_start.shape, timestep_respacing="ddim10", sampler="dpmpp2m", noise=x_start)
    assert x10.std().item() == pytest.approx(S, rel=0.15)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpmpp2m"])
def test_one_denoiser_call_per_step_with_original_indices(sampler):
    model = CountingModel()
    sample(lambda x, t: model(x, t), (3, 5, 2), timestep_respacing="ddim10", sampler=sampler,
           generator=torch.Generator().manual_seed(0))
    assert model.batch_sizes == [3] * 10
    assert [steps[0] for steps in model.steps] == list(range(900, -1, -100))
    assert all(len(set(steps)) == 1 for steps in model.steps)


def test_sampling_is_deterministic_given_the_generator_or_noise():
    def draw(sampler, seed, eta=0.0):
        return sample(optimal_denoiser, (4, 6, 3), timestep_respacing="ddim50", sampler=sampler, eta=eta,
                      generator=torch.Generator().manual_seed(seed))

    for sampler, eta in (("ddpm", 0.0), ("ddim", 0.5), ("dpmpp2m", 0.0)):
        assert torch.equal(draw(sampler, 7, eta), draw(sampler, 7, eta))
        assert not torch.allclose(draw(sampler, 7, eta), draw(sampler, 8, eta))
    noise = torch.randn(4, 6, 3)
    first = sample(optimal_denoiser, noise.shape, timestep_respacing="ddim50", noise=noise)
    again = sample(optimal_denoiser, noise.shape, timestep_respacing="ddim50", noise=noise.clone())
    assert torch.equal(first, again)


def test_ddpm_equals_ddim_with_eta_one():
    ddpm = sample(optimal_denoiser, (50, 4, 2), timestep_respacing="ddim25", sampler="ddpm",
                  generator=torch.Generator().manual_seed(3))
    ddim = sample(optimal_denoiser, (50, 4, 2), timestep_respacing="ddim25", sampler="ddim", eta=1.0,
                  generator=torch.Generator().manual_seed(3))
    assert torch.allclose(ddpm, ddim, atol=1e-5)


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(optimal_denoiser, (1, 2, 2), sampler="euler")
    with pytest.raises(ValueError, match="only applies to the ddim"):
        sample(optimal_denoiser, (1, 2, 2), sampler="ddpm", eta=0.5)
    with pytest.raises(ValueError, match="noise has shape"):
        sample(optimal_denoiser, (1, 2, 2), noise=torch.zeros(1, 3, 2))


def _conditions(batch):
    generator = torch.Generator().manual_seed(batch)
    cond = {"audio": torch.randn(batch, 7, 3, generator=generator),
            "keyframes": torch.randn(batch, 2, 3, generator=generator), "lips": None}
    null = {"audio": torch.zeros(batch, 7, 3), "keyframes": torch.zeros(batch, 2, 3), "lips": None}
    return cond, null


def test_guidance_runs_one_batched_call_per_step():
    cond, null = _conditions(3)
    model = CountingModel()
    sample(guided_denoiser(model, cond, null, 2.5), (3, 5, 3), timestep_respacing="ddim10",
           generator=torch.Generator().manual_seed(0))
    assert model.batch_sizes == [6] * 10


def test_guidance_scale_zero_is_unconditional_and_one_is_conditional():
    cond, null = _conditions(3)
    model = CountingModel()
    x_t, t = torch.randn(3, 5, 3), torch.tensor([10, 500, 900])
    conditional, unconditional = model(x_t, t, cond), model(x_t, t, null)
    assert not torch.allclose(conditional, unconditional)
    assert torch.allclose(guided_denoiser(model, cond, null, 0.0)(x_t, t), unconditional, atol=1e-6)
    model.batch_sizes.clear()
    assert torch.allclose(guided_denoiser(model, cond, null, 1.0)(x_t, t), conditional, atol=1e-6)
    assert model.batch_sizes == [3]  # scale 1: the conditional half alone
    guided = guided_denoiser(model, cond, null, 3.0)(x_t, t)
    assert torch.allclose(guided, unconditional + 3 * (conditional - unconditional), atol=1e-5)
    per_sample = guided_denoiser(model, cond, null, torch.tensor([0.0, 1.0, 3.0]))(x_t, t)
    assert torch.allclose(per_sample[0], unconditional[0], atol=1e-6)
    assert torch.allclose(per_sample[1], conditional[1], atol=1e-6)
    assert torch.allclose(per_sample[2], guided[2], atol=1e-5)


def test_guidance_rejects_mismatched_conditions():
    cond, null = _conditions(2)
    with pytest.raises(ValueError, match="keys"):
        guided_denoiser(CountingModel(), cond, {"audio": null["audio"]}, 2.0)
    with pytest.raises(ValueError, match="'lips' is None"):
        guided_denoiser(CountingModel(), cond, {**null, "lips": torch.zeros(2, 7, 3)}, 2.0)

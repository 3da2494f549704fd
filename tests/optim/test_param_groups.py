"""Parameter groups: ``paramwise_cfg`` (MMEngine semantics), layer-wise LR decay, and frozen
parameters never reaching the optimizer."""
import pytest
import torch
from torch import nn

from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError
from trainkit.optim import build_optim_wrapper
from trainkit.optim.freeze import freeze_except

LR, WD = 0.1, 0.01


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.pos_embed = nn.Parameter(torch.zeros(1, 4))     # 2-D, top level
        self.scale = nn.Parameter(torch.ones(4))              # 1-D, not a bias, not a norm
        self.stem = nn.Conv2d(3, 4, 3)
        self.dw = nn.Conv2d(4, 4, 3, groups=4)               # depthwise
        self.bn = nn.BatchNorm2d(4)
        self.backbone = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.head = nn.Linear(4, 2)

    def forward(self, batch):
        x = self.bn(self.dw(self.stem(batch['x']))).mean((2, 3)) * self.scale + self.pos_embed
        return {'y': self.head(self.backbone(x))[:, :1]}


def settings(wrapper, model):
    """{parameter name: (lr, weight_decay)} from the optimizer's groups; each parameter must
    be in exactly one group."""
    names = {id(p): n for n, p in model.named_parameters()}
    found = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            name = names[id(param)]
            assert name not in found, f'{name} is in two groups'
            found[name] = (group['lr'], group.get('weight_decay'))
    return found


def build(model, paramwise_cfg=None, optimizer=None, **extra):
    cfg = dict(optimizer=optimizer or dict(type='SGD', lr=LR, momentum=0.9, weight_decay=WD),
               **extra)
    if paramwise_cfg is not None:
        cfg['paramwise_cfg'] = paramwise_cfg
    return build_optim_wrapper(model, cfg)


def approx(d):
    return {k: pytest.approx(v, rel=1e-12, abs=0) for k, v in d.items()}


def test_paramwise_multipliers():
    model = ConvNet()
    wrapper = build(model, dict(bias_lr_mult=2.0, bias_decay_mult=0.5, norm_decay_mult=0.0,
                                flat_decay_mult=0.3, dwconv_decay_mult=0.2))
    assert settings(wrapper, model) == approx({
        'pos_embed': (LR, WD), 'scale': (LR, 0.3 * WD),
        'stem.weight': (LR, WD), 'stem.bias': (2 * LR, 0.5 * WD),
        'dw.weight': (LR, 0.2 * WD), 'dw.bias': (2 * LR, 0.5 * WD),
        # norms: no bias_lr_mult, norm_decay_mult wins over bias_decay_mult
        'bn.weight': (LR, 0.0), 'bn.bias': (LR, 0.0),
        'backbone.0.weight': (LR, WD), 'backbone.0.bias': (2 * LR, 0.5 * WD),
        'backbone.1.weight': (LR, 0.0), 'backbone.1.bias': (LR, 0.0),
        'head.weight': (LR, WD), 'head.bias': (2 * LR, 0.5 * WD)})


def test_custom_keys_longest_first_substring_and_over_the_multipliers():
    model = ConvNet()
    wrapper = build(model, dict(bias_lr_mult=2.0, norm_decay_mult=0.0, custom_keys={
        'head': dict(lr_mult=0.5),
        'head.bias': dict(lr_mult=3.0, decay_mult=0.0),        # longer than 'head': wins
        'backbone': dict(lr_mult=0.1, decay_mult=2.0),
        'backbone.1': dict(decay_mult=0.0),                    # longer than 'backbone'
        'embed': dict(decay_mult=0.0)}))                       # substring of 'pos_embed'
    got = settings(wrapper, model)
    assert got == approx({
        'pos_embed': (LR, 0.0), 'scale': (LR, WD),
        'stem.weight': (LR, WD), 'stem.bias': (2 * LR, WD),
        'dw.weight': (LR, WD), 'dw.bias': (2 * LR, WD),
        'bn.weight': (LR, 0.0), 'bn.bias': (LR, 0.0),
        # a custom key replaces bias_lr_mult / norm_decay_mult for the parameters it matches
        'backbone.0.weight': (0.1 * LR, 2 * WD), 'backbone.0.bias': (0.1 * LR, 2 * WD),
        'backbone.1.weight': (LR, 0.0), 'backbone.1.bias': (LR, 0.0),
        'head.weight': (0.5 * LR, WD), 'head.bias': (3 * LR, 0.0)})


def test_reference_style_optimizer_and_paramwise_together():
    model = ConvNet()
    wrapper = build_optim_wrapper(model, dict(
        optimizer='AdamW', optimizer_kwargs=dict(lr=1e-3, betas=[0.8, 0.9], weight_decay=0.1),
        paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=0.1)})))
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)
    got = settings(wrapper, model)
    assert got['head.weight'] == pytest.approx((1e-4, 0.1))
    assert got['stem.weight'] == pytest.approx((1e-3, 0.1))
    assert all(g['betas'] == (0.8, 0.9) for g in wrapper.optimizer.param_groups)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.decoder = nn.Linear(4, 4)
        self.decoder.weight = self.encoder.weight


def test_bypass_duplicate():
    model = Tied()
    with pytest.raises(ConfigError, match='optim_wrapper'):
        build(model, dict(bias_lr_mult=2.0))
    wrapper = build(model, dict(bias_lr_mult=2.0, bypass_duplicate=True))
    params = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    assert len(params) == len({id(p) for p in params}) == 3
    assert settings(wrapper, model)['encoder.weight'] == (LR, WD)
    assert settings(wrapper, model)['decoder.bias'] == (2 * LR, WD)


# -------------------------------------------------------------------- frozen parameters
LAYER_DECAY = dict(constructor='LayerDecayOptimWrapperConstructor')


@pytest.mark.parametrize('paramwise_cfg,extra', [
    (None, {}), (dict(bias_lr_mult=2.0, norm_decay_mult=0.0), {}),
    (dict(layer_decay_rate=0.5, block_attr='backbone'), LAYER_DECAY)],
    ids=['plain', 'paramwise_cfg', 'layer_decay'])
def test_frozen_parameters_never_reach_the_optimizer(paramwise_cfg, extra):
    model = ConvNet()
    freeze_except(model, ['head', 'backbone.1'])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'head.weight', 'head.bias', 'backbone.1.weight', 'backbone.1.bias'}
    wrapper = build(model, paramwise_cfg, **extra)
    assert set(settings(wrapper, model)) == trainable
    assert all(g['params'] for g in wrapper.optimizer.param_groups)    # no empty group


def test_decay_mult_without_weight_decay_is_a_clear_error():
    for paramwise_cfg in (dict(norm_decay_mult=0.0),
                          dict(custom_keys={'head': dict(decay_mult=0.0)})):
        with pytest.raises(ConfigError, match='has no weight_decay to scale'):
            build(ConvNet(), paramwise_cfg, optimizer=dict(type='AdamW', lr=1e-3))


def test_all_frozen_is_a_clear_error():
    model = ConvNet()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ConfigError, match='no trainable parameter'):
        build(model)


def test_finetune_modules_in_a_run_leave_frozen_weights_untouched(tmp_path):
    model = ConvNet()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    runner = Runner(model, dict(dataset=_ImageData(), batch_size=4),
                    optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.01),
                                       paramwise_cfg=dict(norm_decay_mult=0.0)),
                    loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
                    finetune_modules=['head'], max_epochs=2, hooks=[], work_dir=str(tmp_path),
                    seed=0, device='cpu')
    assert set(settings(runner.optim_wrapper, model)) == {'head.weight', 'head.bias'}
    runner.train()
    for name, param in model.named_parameters():
        changed = not torch.equal(param, before[name])
        assert changed == name.startswith('head'), name
    state = runner.optim_wrapper.optimizer.state
    assert {id(p) for p in state} == {id(model.head.weight), id(model.head.bias)}


class _ImageData(torch.utils.data.Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(8, 3, 5, 5, generator=g), torch.randn(8, 1, generator=g)

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return {'x': self.x[i], 'y': self.y[i]}


# ------------------------------------------------------------------------ layer-wise decay
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)


class ViTish(nn.Module):
    def __init__(self, depth=3):
        super().__init__()
        self.patch_embed = nn.Linear(4, 8)
        self.pos_embed = nn.Parameter(torch.zeros(1, 2, 8))
        self.blocks = nn.ModuleList(Block() for _ in range(depth))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 2)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 8)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(Block() for _ in range(2))
        self.out = nn.Linear(8, 1)


def layer_decay(model, optimizer=None, **paramwise):
    return build(model, dict(paramwise), optimizer or dict(type='AdamW', lr=LR,
                                                            weight_decay=0.05), **LAYER_DECAY)


def test_layer_decay_scales_and_no_decay():
    model, decay = ViTish(depth=3), 0.5
    wrapper = layer_decay(model, layer_decay_rate=decay, no_decay_names=['pos_embed'])
    L = 4                                   # 3 blocks + 1
    expected = {'patch_embed.weight': (LR * decay ** L, 0.05),
                'patch_embed.bias': (LR * decay ** L, 0.0),
                'pos_embed': (LR * decay ** L, 0.0),                    # no_decay_names
                'norm.weight': (LR, 0.0), 'norm.bias': (LR, 0.0),
                'head.weight': (LR, 0.05), 'head.bias': (LR, 0.0)}
    for k in range(3):
        scale = decay ** (L - k - 1)
        expected.update({f'blocks.{k}.norm.weight': (LR * scale, 0.0),
                         f'blocks.{k}.norm.bias': (LR * scale, 0.0),
                         f'blocks.{k}.fc.weight': (LR * scale, 0.05),
                         f'blocks.{k}.fc.bias': (LR * scale, 0.0)})
    assert settings(wrapper, model) == approx(expected)
    groups = wrapper.optimizer.param_groups
    assert sorted({g['layer_id'] for g in groups}) == [0, 1, 2, 3, 4]
    assert all(g['lr_scale'] == pytest.approx(decay ** (L - g['layer_id'])) for g in groups)


def test_layer_decay_keeps_the_optimizers_default_weight_decay():
    """Without weight_decay in the config the decayed groups keep AdamW's own default (0.01);
    only the no-decay groups get 0."""
    model = ViTish(depth=1)
    got = settings(layer_decay(model, optimizer=dict(type='AdamW', lr=LR)), model)
    assert got['blocks.0.fc.weight'][1] == 0.01
    assert got['blocks.0.fc.bias'][1] == 0.0


def test_layer_decay_with_dotted_block_attr():
    model, decay = Nested(), 0.8
    got = settings(layer_decay(model, layer_decay_rate=decay, block_attr='encoder.layers'),
                   model)
    L = 3
    assert got['embed.weight'] == pytest.approx((LR * decay ** L, 0.05))
    assert got['encoder.layers.0.fc.weight'] == pytest.approx((LR * decay ** 2, 0.05))
    assert got['encoder.layers.1.fc.weight'] == pytest.approx((LR * decay, 0.05))
    assert got['encoder.layers.1.norm.bias'] == pytest.approx((LR * decay, 0.0))
    assert got['out.weight'] == pytest.approx((LR, 0.05))


def test_layer_decay_wrong_block_attr_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"no attribute 'blocs'.*did you mean.*blocks"):
        layer_decay(ViTish(), block_attr='blocs')
    with pytest.raises(ConfigError, match=r"'encoder' has no attribute|no attribute 'layer'"):
        layer_decay(Nested(), block_attr='encoder.layer')
    with pytest.raises(ConfigError, match='expected an indexed nn.ModuleList'):
        layer_decay(ViTish(), block_attr='head')
    with pytest.raises(ConfigError, match='layer_decay_rate'):
        layer_decay(ViTish(), layer_decay_rate=1.5)
    with pytest.raises(ConfigError, match="'decay_rate' is not an option"):
        layer_decay(ViTish(), decay_rate=0.5)

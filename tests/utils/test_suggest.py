"""Did-you-mean suggestions and the one wording of the unknown-key check."""
from trainkit.utils.suggest import close_matches, did_you_mean, unknown_keys


def test_a_mistyped_key_is_found_before_longer_and_shorter_ones():
    assert close_matches('weight_decy', ['weight_decay', 'weight', 'lr']) == ['weight_decay']
    assert did_you_mean('T_mx', ['T_max', 'eta_min']) == " — did you mean 'T_max'?"
    assert did_you_mean('zzzz', ['T_max', 'eta_min']) == ''


def test_unknown_keys_names_each_unknown_key_with_its_nearest_and_the_valid_ones():
    assert unknown_keys({'max_norm': 1, 'norm_typ': 2, 'zzz': 0},
                        ('max_norm', 'norm_type'), 'clip_grad') == [
        "clip_grad: unknown key 'norm_typ' — did you mean 'norm_type'?; valid keys: max_norm, "
        "norm_type",
        "clip_grad: unknown key 'zzz'; valid keys: max_norm, norm_type"]
    assert unknown_keys({'max_norm': 1}, ('max_norm',), 'clip_grad') == []

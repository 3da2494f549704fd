"""MMEngine configs in trainkit: keys and leftovers of MMEngine-style files mapped before checking.

The principle (docs/config.md, "MMEngine configs"): a key with a trainkit equivalent maps onto it;
a key that only concerns parts trainkit lacks is accepted with one line saying so; nothing that
changes training is ignored silently; a key with no meaning is an error with did-you-mean.
"""

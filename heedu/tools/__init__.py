r"""Tools built on the library, not part of it: they read files, draw progress bars and print reports.

* :mod:`heedu.tools.mnist`: the MNIST test set (idx files, checked before any size is trusted) and the
  Azure ML tutorial's model, from a folder the caller names (``--data`` or ``$HEEDU_DATA``);
* :mod:`heedu.tools.datasets`: the files' public sources, a cache and pinned checksums; downloads only
  when asked (``--download``), a folder named by ``--data`` or ``$HEEDU_DATA`` first;
* :mod:`heedu.tools.evaluate`: every test image through heedu's protocols, against the plaintext model
  (``python -m heedu.tools.evaluate``);
* :mod:`heedu.tools.crosscheck`: heedu's protocols, the EI-compatible one and the real
  ``encrypted-inference`` package on the same inputs (``python -m heedu.tools.crosscheck``);
* :mod:`heedu.tools.attacks`: the weight-recovery attack that re-randomization stops (for the course
  and the tests);
* :mod:`heedu.tools.progress`, :mod:`heedu.tools.arguments`, :mod:`heedu.tools.narration`: the
  progress bar, the argument types and the timed steps that they, the examples and the ``heedu``
  command share.

The library below (``heedu.inference`` and the core) never imports them.
"""

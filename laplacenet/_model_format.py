"""What every model file shares: the format's name and version, the estimator classes it can hold, and the
column statistics of the training data it stores.

:data:`FORMAT_NAME` and :data:`FORMAT_VERSION` head the metadata :func:`laplacenet.io.save` writes and are what
:func:`laplacenet.io.load` checks first. :data:`ESTIMATORS` holds the estimator classes by name:
``laplacenet.estimators`` fills it through :func:`laplacenet.io.register_estimator`, so that neither the encoding
(:mod:`laplacenet._model_encode`) nor the decoding (:mod:`laplacenet._model_decode`) imports the estimators.
"""

#: the ``format`` field of the metadata of every file :func:`laplacenet.io.save` writes
FORMAT_NAME = "laplacenet.model"
#: the version of the layout :func:`laplacenet.io.save` writes; :func:`laplacenet.io.load` reads this one and
#: every earlier one
FORMAT_VERSION = 2  # 2: the standardisation (x_mean, x_scale, y_mean, y_scale) and history_accepted

# The estimator classes by name: laplacenet.estimators registers its two (laplacenet.io.register_estimator), as it
# imports laplacenet.io for their save method.
ESTIMATORS = {}
# the column statistics of the training data a fit remembers, stored as fingerprint_<name> when known
FINGERPRINT_ARRAYS = ("x_mean", "x_scale", "t_mean", "t_scale")

# Rules of the training stage.

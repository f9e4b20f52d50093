# Rules of the dft stage.

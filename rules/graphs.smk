# Rules of the graphs stage.

# Rules of the recipe stage.

"""The built-in synthetic world (WORLD.md): pictures, sounds, talk and the language of a text; imported by the
training recipe, its evaluation and the running studio alike."""

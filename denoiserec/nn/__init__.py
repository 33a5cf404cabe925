"""Building blocks shared by the models and the methods (``docs/design.md``): field embeddings, MLP and
feature interactions (:mod:`.layers`), behaviour-sequence blocks and the user memory (:mod:`.sequence`), and
the attention estimators' networks (:mod:`.attention`). Nothing here knows a model or a method registry.
"""

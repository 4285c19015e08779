"""Reciprocal rank fusion of several ranked lists."""


def reciprocal_rank_fusion(rankings, k=60):
    """Fuse ranked lists of document ids: each list adds 1 / (k + rank) to a document."""
    scores = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=scores.get, reverse=True)

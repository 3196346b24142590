"""Knowledge-base text search: segmentation and ranking (no ORM).

Chinese is written without spaces, so words must be found by a segmenter
before they can be indexed. Stock PostgreSQL has no Chinese text-search
parser (zhparser / pg_jieba are extensions a hosted database rarely offers)
and SQLite has none at all, so the suite segments in Python with jieba and
stores the terms in an ordinary table: the same index and the same ranking
on both back-ends (see doc/index.rst).
"""
import html
import logging
import math
import re
import unicodedata
from collections import Counter
from html.parser import HTMLParser

import jieba

# jieba logs the building of its dictionary at INFO on every process start.
jieba.setLogLevel(logging.WARNING)

# A word in the title says more about the article than one in its body.
FIELD_WEIGHTS = {
    'title': 3.0,
    'keywords': 2.0,
    'tags': 2.0,
    'body': 1.0,
    }
MAX_TERM_LENGTH = 64
# Function words that match nearly every article and only add noise.
STOPWORDS = frozenset([
        '的', '了', '和', '与', '及', '或', '是', '在', '有', '为', '对', '将',
        '把', '被', '从', '等', '就', '也', '都', '而', '并', '吗', '呢', '吧',
        '啊', '请', '我', '你', '您', '他', '她', '它', '我们', '你们', '这',
        '那', '个', '之', '以', '于',
        'a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'for', 'from',
        'how', 'in', 'is', 'it', 'of', 'on', 'or', 'the', 'to', 'with',
        ])
# BM25 parameters: k1 saturates repeated terms, b normalises by length.
K1 = 1.2
B = 0.75


class _TextExtractor(HTMLParser):
    "Collect the text of an HTML fragment, one space per tag boundary."

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)

    def handle_starttag(self, tag, attrs):
        self.parts.append(' ')

    def handle_endtag(self, tag):
        self.parts.append(' ')


def html_to_text(value):
    "Plain text of the rich text (HTML) the web client stores."
    if not value:
        return ''
    if '<' not in value:
        return html.unescape(value)
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return ''.join(parser.parts)


def _is_word(token):
    # Punctuation, symbols and spaces are not searchable words.
    return any(unicodedata.category(c)[0] in 'LN' for c in token)


def terms(text):
    "Normalised search terms of a text, in order, repeats kept."
    if not text:
        return []
    # NFKC folds full-width letters and digits typed by Chinese input
    # methods (ＡＤＳＬ, １０Ｍ) onto their ASCII forms.
    text = unicodedata.normalize('NFKC', text).lower()
    result = []
    for token in jieba.cut_for_search(text):
        token = token.strip()
        if (token and token not in STOPWORDS and _is_word(token)
                and len(token) <= MAX_TERM_LENGTH):
            result.append(token)
    return result


def query_terms(text):
    "Distinct terms of a query; SQL wildcards count as spaces."
    text = re.sub(r'[%_]', ' ', text or '')
    return list(dict.fromkeys(terms(text)))


def document_terms(texts):
    """Weight of each term of a document.

    texts maps a field name of FIELD_WEIGHTS to its plain text; the weight of
    a term is the sum over its occurrences of the weight of their field.
    """
    weights = Counter()
    for field, text in texts.items():
        weight = FIELD_WEIGHTS[field]
        for term in terms(text):
            weights[term] += weight
    return dict(weights)


def rank(matches, document_count, lengths, average_length):
    """Rank documents by BM25 over the query terms they contain.

    matches: {document: {term: weight}} for the query terms only;
    document_count: documents in the index; lengths: {document: total
    weight}; average_length: mean total weight of an indexed document.
    Returns [(document, score)], best first, ties by document id.
    """
    frequencies = Counter(t for found in matches.values() for t in found)
    average_length = average_length or 1.0
    scores = {}
    for document, found in matches.items():
        norm = K1 * (1 - B + B * (lengths.get(document) or 0)
            / average_length)
        score = 0.0
        for term, weight in found.items():
            score += _idf(frequencies[term], document_count) * (
                weight * (K1 + 1) / (weight + norm))
        scores[document] = score
    return sorted(scores.items(), key=lambda s: (-s[1], s[0]))


def _idf(frequency, document_count):
    # The "+ 1" of BM25+ keeps the weight positive for very common terms.
    count = max(document_count, frequency)
    return math.log(1 + (count - frequency + 0.5) / (frequency + 0.5))

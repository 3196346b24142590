import datetime
from collections import defaultdict

from sql.aggregate import Avg, Count

from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields, tree)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.rpc import RPC
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from . import kbsearch
from .workflow import WorkflowFieldsMixin

ARTICLE_STATES = [
    ('draft', "Draft"),
    ('review', "In Review"),
    ('published', "Published"),
    ('archived', "Archived"),
    ]
FEEDBACK_KINDS = [
    ('useful', "Useful"),
    ('outdated', "Outdated"),
    ('wrong', "Wrong"),
    ]
# Feedback kinds that ask for the article to be reviewed.
ISSUE_KINDS = ('outdated', 'wrong')
# Fields whose text goes into the search index.
INDEXED_FIELDS = {'title', 'keywords', 'body', 'tags'}


def _validity_domain(today, positive):
    "Domain of the records valid (or not) on today."
    if positive:
        return [
            ['OR', ('valid_from', '=', None), ('valid_from', '<=', today)],
            ['OR', ('valid_to', '=', None), ('valid_to', '>=', today)],
            ]
    return ['OR', ('valid_from', '>', today), ('valid_to', '<', today)]


def _is_positive(clause):
    "Whether a Boolean clause (= or !=) asks for True."
    _, operator, value = clause[:3]
    return (operator == '=') == bool(value)


class Category(tree(separator=' / '), ModelSQL, ModelView):
    __string__ = "Knowledge Base Category"
    __name__ = 'cc.kb.category'
    name = fields.Char("Name", required=True)
    parent = fields.Many2One(
        'cc.kb.category', "Parent", ondelete='RESTRICT')
    childs = fields.One2Many('cc.kb.category', 'parent', "Children")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))


class Tag(ModelSQL, ModelView):
    __string__ = "Knowledge Base Tag"
    __name__ = 'cc.kb.tag'
    name = fields.Char("Name", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('name_unique', Unique(t, t.name),
                'cc_base.msg_kb_tag_name_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def on_modification(cls, mode, tags, field_names=None):
        super().on_modification(mode, tags, field_names=field_names)
        # Tag names are indexed with the articles that carry them.
        if mode == 'write' and 'name' in (field_names or {'name'}):
            Article = Pool().get('cc.kb.article')
            Article.index(
                Article.search([('tags', 'in', [t.id for t in tags])]))


class Article(WorkflowFieldsMixin, Workflow, ModelSQL, ModelView):
    __string__ = "Knowledge Base Article"
    __name__ = 'cc.kb.article'
    _rec_name = 'title'
    _states = {
        'readonly': ~Eval('state').in_(['draft', 'review']),
        }
    title = fields.Char("Title", required=True, states=_states)
    category = fields.Many2One(
        'cc.kb.category', "Category", ondelete='RESTRICT', states=_states)
    body = fields.Text("Body", states=_states)
    tags = fields.Many2Many(
        'cc.kb.article-cc.kb.tag', 'article', 'tag', "Tags", states=_states)
    keywords = fields.Char(
        "Keywords", states=_states,
        help="Extra words agents may search for, such as synonyms.")
    valid_from = fields.Date("Valid From", states=_states)
    valid_to = fields.Date("Valid To", states=_states, domain=[
            If(Eval('valid_from') & Eval('valid_to'),
                ('valid_to', '>=', Eval('valid_from')),
                ()),
            ])
    current = fields.Function(
        fields.Boolean("Currently Valid"), 'get_current',
        searcher='search_current')
    version = fields.Integer(
        "Version", readonly=True,
        help="Number of the last published version.")
    author = fields.Many2One(
        'res.user', "Author", readonly=True, ondelete='RESTRICT')
    approver = fields.Many2One(
        'res.user', "Approver", readonly=True, ondelete='RESTRICT',
        help="Who published the last version.")
    published_date = fields.DateTime("Published", readonly=True)
    state = fields.Selection(
        ARTICLE_STATES, "State", required=True, readonly=True, sort=False)
    state_string = state.translated('state')
    versions = fields.One2Many(
        'cc.kb.article.version', 'article', "Versions", readonly=True)
    feedbacks = fields.One2Many(
        'cc.kb.feedback', 'article', "Feedback", readonly=True)
    issue_count = fields.Function(
        fields.Integer("Open Issues",
            help="Open feedback saying the article is outdated or wrong."),
        'get_issues')
    needs_review = fields.Function(
        fields.Boolean("Needs Review"), 'get_issues',
        searcher='search_needs_review')
    index_length = fields.Float(
        "Index Length", readonly=True,
        help="Total weight of the article's search terms.")
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality()),
                    where=t.state.in_(['review', 'published'])),
                })
        cls._order = [
            ('published_date', 'DESC NULLS LAST'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'review'),
            ('review', 'draft'),
            ('review', 'published'),
            ('published', 'archived'),
            ('published', 'draft'),
            ('archived', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': Eval('state') != 'review',
                    'icon': 'tryton-back',
                    },
                'submit': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    },
                'publish': {
                    'invisible': Eval('state') != 'review',
                    'icon': 'tryton-ok',
                    },
                'archive': {
                    'invisible': Eval('state') != 'published',
                    'icon': 'tryton-archive',
                    },
                'new_version': {
                    'invisible': ~Eval('state').in_(['published', 'archived']),
                    'icon': 'tryton-refresh',
                    },
                'feedback': {
                    'invisible': Eval('state') != 'published',
                    'icon': 'tryton-comment',
                    },
                })
        cls.__rpc__.update({
                'search_text': RPC(),
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_version(cls):
        return 0

    @classmethod
    def default_author(cls):
        return Transaction().user

    @classmethod
    def _workflow_create_values(cls):
        return {
            **super()._workflow_create_values(),
            'state': 'draft',
            'version': 0,
            'author': Transaction().user,
            'approver': None,
            'published_date': None,
            'index_length': None,
            }

    def get_current(self, name):
        today = Pool().get('ir.date').today()
        return ((not self.valid_from or self.valid_from <= today)
            and (not self.valid_to or self.valid_to >= today))

    @classmethod
    def search_current(cls, name, clause):
        today = Pool().get('ir.date').today()
        return _validity_domain(today, _is_positive(clause))

    @classmethod
    def _issue_query(cls):
        "Articles with open feedback asking for a review, and how many."
        Feedback = Pool().get('cc.kb.feedback')
        feedback = Feedback.__table__()
        return feedback.select(
            feedback.article, Count().as_('issues'),
            where=(feedback.state == 'open')
            & feedback.kind.in_(list(ISSUE_KINDS)),
            group_by=[feedback.article])

    @classmethod
    def get_issues(cls, articles, names):
        issues = cls._issue_query()
        cursor = Transaction().connection.cursor()
        in_ = fields.SQL_OPERATORS['in']
        counts = {}
        for sub in grouped_slice(articles, backend.MAX_QUERY_PARAMS):
            cursor.execute(*issues.select(issues.article, issues.issues,
                    where=in_(issues.article, [a.id for a in sub])))
            counts.update(cursor)
        result = {}
        if 'issue_count' in names:
            result['issue_count'] = {
                a.id: counts.get(a.id, 0) for a in articles}
        if 'needs_review' in names:
            result['needs_review'] = {a.id: a.id in counts for a in articles}
        return result

    @classmethod
    def search_needs_review(cls, name, clause):
        issues = cls._issue_query()
        operator = 'in' if _is_positive(clause) else 'not in'
        return [('id', operator, issues.select(issues.article))]

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        if operator in {'ilike', 'like'} and value:
            # The term index finds the words of the text in any order and
            # in any field; the title match keeps what it cannot segment.
            ids = [i for i, _ in cls._text_scores(value)]
            return ['OR',
                ('id', 'in', ids),
                ('title', operator, value),
                ]
        return [('title', *clause[1:])]

    @classmethod
    def search(cls, domain, offset=0, limit=None, order=None, count=False,
            query=False):
        # The web client's search box sends a rec_name clause without an
        # order: return its results best match first.
        text = None
        if not (order or count or query):
            text = _rank_text(domain)
        if not text:
            return super().search(domain, offset=offset, limit=limit,
                order=order, count=count, query=query)
        # The clause bounds the results to the matching articles.
        records = super().search(domain)
        rank = {i: n for n, (i, _) in enumerate(cls._text_scores(text))}
        records.sort(key=lambda r: (rank.get(r.id, len(rank)), -r.id))
        end = offset + limit if limit is not None else None
        return records[offset:end]

    @classmethod
    def search_text(cls, query, limit=20):
        """Published, currently valid articles matching query, best first.

        Returns [{'id', 'title', 'score'}]; record rules apply as usual.
        """
        scores = dict(cls._text_scores(query))
        articles = cls.search([
                ('id', 'in', list(scores)),
                ('state', '=', 'published'),
                ('current', '=', True),
                ])
        articles.sort(key=lambda a: (-scores[a.id], a.id))
        return [{
                'id': a.id,
                'title': a.title,
                'score': round(scores[a.id], 6),
                } for a in articles[:limit]]

    @classmethod
    def _text_scores(cls, text):
        "[(article id, score)] from the term index, best first."
        words = kbsearch.query_terms(text)
        if not words:
            return []
        Term = Pool().get('cc.kb.article.term')
        term = Term.__table__()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        matches = defaultdict(dict)
        for sub in grouped_slice(words, backend.MAX_QUERY_PARAMS):
            cursor.execute(*term.select(term.article, term.term, term.weight,
                    where=term.term.in_(list(sub))))
            for article, word, weight in cursor:
                matches[article][word] = weight
        if not matches:
            return []
        cursor.execute(*table.select(
                Count(), Avg(table.index_length),
                where=table.index_length > 0))
        document_count, average_length = cursor.fetchone()
        lengths = {}
        for sub in grouped_slice(list(matches), backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.select(table.id, table.index_length,
                    where=fields.SQL_OPERATORS['in'](table.id, sub)))
            lengths.update(cursor)
        return kbsearch.rank(
            matches, document_count, lengths, average_length)

    def _index_texts(self):
        "Plain texts of the indexed fields."
        return {
            'title': self.title or '',
            'keywords': self.keywords or '',
            'tags': ' '.join(t.name for t in self.tags),
            'body': kbsearch.html_to_text(self.body),
            }

    @classmethod
    def index(cls, articles):
        "Rebuild the search terms of articles."
        # The index is derived data written in bulk: plain SQL, no access
        # rules and no validation, like the cache of a function field.
        Term = Pool().get('cc.kb.article.term')
        term = Term.__table__()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        in_ = fields.SQL_OPERATORS['in']
        for sub in grouped_slice(articles, backend.MAX_QUERY_PARAMS):
            sub = list(sub)
            cursor.execute(*term.delete(
                    where=in_(term.article, [a.id for a in sub])))
            rows = []
            for article in sub:
                weights = kbsearch.document_terms(article._index_texts())
                rows.extend([article.id, w, v] for w, v in weights.items())
                cursor.execute(*table.update(
                        [table.index_length], [sum(weights.values())],
                        where=table.id == article.id))
            # Three parameters a row: stay under the back-end's limit.
            for rows_sub in grouped_slice(rows, backend.MAX_QUERY_PARAMS // 3):
                cursor.execute(*term.insert(
                        [term.article, term.term, term.weight],
                        list(rows_sub)))

    @classmethod
    def on_modification(cls, mode, articles, field_names=None):
        super().on_modification(mode, articles, field_names=field_names)
        if mode in {'create', 'write'} and (
                field_names is None or INDEXED_FIELDS & set(field_names)):
            cls.index(articles)

    @classmethod
    def check_modification(
            cls, mode, articles, values=None, external=False):
        super().check_modification(
            mode, articles, values=values, external=external)
        if mode == 'write' and external:
            for article in articles:
                if article.state not in {'draft', 'review'}:
                    raise AccessError(gettext(
                            'cc_base.msg_kb_article_modify_published',
                            article=article.rec_name,
                            state=article.state_string))
        elif mode == 'delete':
            for article in articles:
                if article.state != 'draft' or article.version:
                    raise AccessError(gettext(
                            'cc_base.msg_kb_article_delete',
                            article=article.rec_name))

    @classmethod
    def copy(cls, articles, default=None):
        default = default.copy() if default is not None else {}
        # The workflow fields are reset by _workflow_create_values.
        default.setdefault('versions', None)
        default.setdefault('feedbacks', None)
        return super().copy(articles, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, articles):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('review')
    def submit(cls, articles):
        pass

    @classmethod
    @ModelView.button
    def publish(cls, articles):
        # Checked before the transition, which would silently skip the
        # articles that are not in review.
        for article in articles:
            if article.state != 'review':
                raise UserError(gettext(
                        'cc_base.msg_kb_article_publish_not_reviewed',
                        article=article.rec_name,
                        state=article.state_string))
        cls._publish(articles)

    @classmethod
    @Workflow.transition('published')
    def _publish(cls, articles):
        Version = Pool().get('cc.kb.article.version')
        now = datetime.datetime.now()
        user = Transaction().user
        for article in articles:
            article.version = (article.version or 0) + 1
            article.approver = user
            article.published_date = now
        cls.save(articles)
        Version.save([a._snapshot() for a in articles])

    def _snapshot(self):
        "The immutable record of the version being published."
        Version = Pool().get('cc.kb.article.version')
        return Version(
            article=self, version=self.version, title=self.title,
            body=self.body, published_by=self.approver,
            date=self.published_date)

    @classmethod
    @ModelView.button
    @Workflow.transition('archived')
    def archive(cls, articles):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def new_version(cls, articles):
        "Reopen a published article: its next version goes through review."
        pass

    @classmethod
    @ModelView.button_action('cc_base.act_kb_feedback_article')
    def feedback(cls, articles):
        pass


def _rank_text(domain):
    "Text of the rec_name clause that all results must match, if any."
    if not isinstance(domain, (list, tuple)) or not domain:
        return None
    if domain[0] == 'OR':
        return None
    for item in domain:
        if not isinstance(item, (list, tuple)) or not item:
            continue
        if isinstance(item[0], str) and item[0] != 'AND':
            if (item[0] == 'rec_name' and len(item) == 3
                    and item[1] in {'ilike', 'like'}
                    and isinstance(item[2], str)):
                return item[2]
        else:
            text = _rank_text(item)
            if text:
                return text
    return None


class ArticleTag(ModelSQL):
    __string__ = "Knowledge Base Article - Tag"
    __name__ = 'cc.kb.article-cc.kb.tag'
    article = fields.Many2One(
        'cc.kb.article', "Article", required=True, ondelete='CASCADE')
    tag = fields.Many2One(
        'cc.kb.tag', "Tag", required=True, ondelete='CASCADE')


class ArticleTerm(ModelSQL):
    __string__ = "Knowledge Base Article Term"
    __name__ = 'cc.kb.article.term'
    article = fields.Many2One(
        'cc.kb.article', "Article", required=True, ondelete='CASCADE')
    term = fields.Char("Term", required=True)
    weight = fields.Float("Weight", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.term, Index.Equality(cardinality='high'))),
                Index(t, (t.article, Index.Range())),
                })


class ArticleVersion(ModelSQL, ModelView):
    __string__ = "Knowledge Base Article Version"
    __name__ = 'cc.kb.article.version'
    article = fields.Many2One(
        'cc.kb.article', "Article", required=True, readonly=True,
        ondelete='CASCADE')
    version = fields.Integer("Version", required=True, readonly=True)
    title = fields.Char("Title", required=True, readonly=True)
    body = fields.Text("Body", readonly=True)
    published_by = fields.Many2One(
        'res.user', "Published By", readonly=True, ondelete='RESTRICT')
    date = fields.DateTime("Date", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('article_version_unique', Unique(t, t.article, t.version),
                'cc_base.msg_kb_article_version_unique'),
            ]
        cls._order = [
            ('article', 'ASC'), ('version', 'DESC'), ('id', 'DESC')]

    def get_rec_name(self, name):
        return f'{self.title} (v{self.version})'

    @classmethod
    def check_modification(
            cls, mode, versions, values=None, external=False):
        super().check_modification(
            mode, versions, values=values, external=external)
        # What agents were shown must stay as it was published.
        if external and mode in {'write', 'delete'}:
            raise AccessError(gettext('cc_base.msg_kb_article_version_modify'))


class Feedback(WorkflowFieldsMixin, Workflow, ModelSQL, ModelView):
    __string__ = "Knowledge Base Feedback"
    __name__ = 'cc.kb.feedback'
    _states = {
        'readonly': Eval('state') != 'open',
        }
    article = fields.Many2One(
        'cc.kb.article', "Article", required=True, ondelete='CASCADE',
        states=_states)
    article_version = fields.Integer(
        "Article Version", readonly=True,
        help="The version of the article the feedback is about.")
    user = fields.Many2One(
        'res.user', "User", required=True, readonly=True,
        ondelete='RESTRICT')
    kind = fields.Selection(
        FEEDBACK_KINDS, "Kind", required=True, sort=False, states=_states)
    kind_string = kind.translated('kind')
    comment = fields.Text("Comment", states={
            'readonly': _states['readonly'],
            'required': Eval('kind').in_(list(ISSUE_KINDS)),
            })
    state = fields.Selection([
            ('open', "Open"),
            ('done', "Done"),
            ], "State", required=True, readonly=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.article, Index.Range()),
                    where=t.state == 'open'),
                })
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('open', 'done'),
            ('done', 'open'),
            }
        cls._buttons.update({
                'done': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-ok',
                    },
                'reopen': {
                    'invisible': Eval('state') != 'done',
                    'icon': 'tryton-undo',
                    },
                })

    @classmethod
    def default_state(cls):
        return 'open'

    @classmethod
    def default_user(cls):
        return Transaction().user

    @classmethod
    def default_kind(cls):
        return 'useful'

    @classmethod
    def _workflow_create_values(cls):
        # Who gave the feedback is a fact of the moment, not input.
        return {
            **super()._workflow_create_values(),
            'state': 'open',
            'user': Transaction().user,
            'article_version': None,
            }

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and values.get('article'):
            Article = Pool().get('cc.kb.article')
            values['article_version'] = Article(values['article']).version
        return values

    def get_rec_name(self, name):
        return f'{self.article.rec_name}: {self.kind_string}'

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def done(cls, feedbacks):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('open')
    def reopen(cls, feedbacks):
        pass

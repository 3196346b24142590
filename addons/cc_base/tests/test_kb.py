"""Knowledge base and bulletins: workflow, access, search, receipts."""
import datetime
import unittest

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.cc_base import kbsearch
from trytond.modules.cc_base.tests.tools import as_user, create_user
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase, activate_module, with_transaction)
from trytond.transaction import Transaction

BROADBAND = "宽带故障报修流程"
BROADBAND_BODY = (
    "<p>客户来电反映<b>宽带</b>无法上网时，先核实账号，再提交故障报修工单。</p>"
    "<p>报修后 24 小时内上门。</p>")


class KnowledgeBaseTestCase(TestCase):
    "Test the knowledge base and bulletins"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_base')

    def user(self, login, *groups):
        return create_user(login, *groups)

    def article(self, title="Article", body=None, **values):
        Article = Pool().get('cc.kb.article')
        article, = Article.create([dict(title=title, body=body, **values)])
        return article

    def published(self, title="Article", body=None, **values):
        Article = Pool().get('cc.kb.article')
        article = self.article(title, body, **values)
        Article.submit([article])
        Article.publish([article])
        return article

    @with_transaction()
    def test_workflow(self):
        "Draft, review, published, archived, new version"
        Article = Pool().get('cc.kb.article')
        article = self.article()
        self.assertEqual(article.state, 'draft')
        self.assertEqual(article.version, 0)

        Article.submit([article])
        self.assertEqual(article.state, 'review')
        Article.draft([article])
        self.assertEqual(article.state, 'draft')
        Article.submit([article])
        Article.publish([article])
        self.assertEqual(article.state, 'published')
        self.assertEqual(article.version, 1)
        self.assertEqual(article.approver.id, Transaction().user)
        self.assertTrue(article.published_date)

        Article.archive([article])
        self.assertEqual(article.state, 'archived')
        Article.new_version([article])
        self.assertEqual(article.state, 'draft')
        self.assertEqual(article.version, 1)

    @with_transaction()
    def test_publish_without_review(self):
        "Publishing a draft fails and writes nothing"
        pool = Pool()
        Article = pool.get('cc.kb.article')
        Version = pool.get('cc.kb.article.version')
        approver = self.user('approver', 'group_cc_kb_approver')
        article = self.article()

        with self.assertRaisesRegex(UserError, 'review'):
            Article.publish([article])
        # Through the client or RPC the approver is refused too.
        with as_user(approver):
            with self.assertRaises(UserError):
                Article.publish([Article(article.id)])

        article = Article(article.id)
        self.assertEqual(article.state, 'draft')
        self.assertEqual(article.version, 0)
        self.assertIsNone(article.approver)
        self.assertIsNone(article.published_date)
        self.assertEqual(Version.search([('article', '=', article.id)]), [])

    @with_transaction()
    def test_publish_mixed_selection(self):
        "One unreviewed article stops the publication of all"
        Article = Pool().get('cc.kb.article')
        reviewed = self.article("Reviewed")
        Article.submit([reviewed])
        draft = self.article("Draft")

        with self.assertRaises(UserError):
            Article.publish([reviewed, draft])
        self.assertEqual(Article(reviewed.id).state, 'review')

    @with_transaction()
    def test_non_approver_cannot_publish(self):
        "Only knowledge base approvers may publish"
        Article = Pool().get('cc.kb.article')
        leader = self.user('leader', 'group_cc_team_leader')
        approver = self.user('approver', 'group_cc_kb_approver')
        article = self.article()
        Article.submit([article])

        with as_user(leader):
            with self.assertRaises(UserError):
                Article.publish([Article(article.id)])
        self.assertEqual(Article(article.id).state, 'review')
        self.assertEqual(Article(article.id).version, 0)

        with as_user(approver):
            Article.publish([Article(article.id)])
        article = Article(article.id)
        self.assertEqual(article.state, 'published')
        self.assertEqual(article.approver, approver)

    @with_transaction()
    def test_leader_writes_drafts(self):
        "A team leader creates and submits drafts, not published articles"
        Article = Pool().get('cc.kb.article')
        leader = self.user('leader', 'group_cc_team_leader')
        published = self.published("Published")

        with as_user(leader):
            # A client cannot skip the workflow by sending its fields.
            draft, = Article.create([{
                        'title': "Draft", 'state': 'published',
                        'version': 7, 'approver': leader.id}])
            self.assertEqual(
                (draft.state, draft.version, draft.approver, draft.author),
                ('draft', 0, None, leader))
            Article.write([draft], {'body': "Text"})
            with self.assertRaises(AccessError):
                Article.write([draft], {'approver': leader.id})
            Article.submit([draft])
            with self.assertRaises(AccessError):
                Article.write(
                    [Article(published.id)], {'title': "Changed"})
        self.assertEqual(Article(published.id).title, "Published")
        self.assertEqual(Article(draft.id).state, 'review')

    @with_transaction()
    def test_version_snapshots(self):
        "Each publication keeps an immutable snapshot"
        pool = Pool()
        Article = pool.get('cc.kb.article')
        Version = pool.get('cc.kb.article.version')
        article = self.published("First", "<p>one</p>")

        Article.new_version([article])
        Article.write([article], {'title': "Second", 'body': "<p>two</p>"})
        Article.submit([article])
        Article.publish([article])

        self.assertEqual(article.version, 2)
        versions = Version.search(
            [('article', '=', article.id)], order=[('version', 'ASC')])
        self.assertEqual(
            [(v.version, v.title, v.body) for v in versions],
            [(1, "First", "<p>one</p>"), (2, "Second", "<p>two</p>")])
        self.assertEqual(versions[0].published_by.id, Transaction().user)

        with Transaction().set_context(_check_access=True):
            with self.assertRaises(AccessError):
                Version.write([versions[0]], {'title': "Rewritten"})
            with self.assertRaises(AccessError):
                Version.delete([versions[0]])
        with self.assertRaises(AccessError):
            Article.delete([article])

    @with_transaction()
    def test_feedback_flags_review(self):
        "Outdated or wrong feedback flags the article for review"
        pool = Pool()
        Article = pool.get('cc.kb.article')
        Feedback = pool.get('cc.kb.feedback')
        agent = self.user('agent', 'group_cc_agent')
        article = self.published()

        with as_user(agent):
            useful, = Feedback.create([{
                        'article': article.id, 'kind': 'useful'}])
            self.assertFalse(Article(article.id).needs_review)
            wrong, = Feedback.create([{
                        'article': article.id, 'kind': 'wrong',
                        'comment': "资费已调整"}])
            self.assertEqual(wrong.user, agent)
            self.assertEqual(wrong.article_version, 1)

        article = Article(article.id)
        self.assertTrue(article.needs_review)
        self.assertEqual(article.issue_count, 1)
        self.assertEqual(
            Article.search([('needs_review', '=', True)]), [article])
        self.assertNotIn(
            article, Article.search([('needs_review', '=', False)]))

        Feedback.done([wrong])
        self.assertFalse(Article(article.id).needs_review)
        self.assertIn(article, Article.search([('needs_review', '=', False)]))

    @with_transaction()
    def test_feedback_own_only(self):
        "An agent sees only their own feedback"
        Feedback = Pool().get('cc.kb.feedback')
        agent1 = self.user('agent1', 'group_cc_agent')
        agent2 = self.user('agent2', 'group_cc_agent')
        article = self.published()
        with as_user(agent1):
            Feedback.create([{'article': article.id, 'kind': 'useful'}])
        with as_user(agent2):
            self.assertEqual(Feedback.search([]), [])
        self.assertEqual(len(Feedback.search([])), 1)

    @with_transaction()
    def test_chinese_search_ranking(self):
        "A Chinese query ranks the article about it first"
        Article = Pool().get('cc.kb.article')
        broadband = self.published(BROADBAND, BROADBAND_BODY)
        self.published(
            "话费查询", "<p>客户可查询本月话费及宽带套餐费用。</p>",
            keywords="余额 账单")
        self.published("宽带新装", "<p>新装宽带需要身份证。</p>")
        self.published("国际漫游开通", "<p>出国前开通漫游。</p>")

        results = Article.search_text("宽带报修")
        self.assertEqual(results[0]['id'], broadband.id)
        self.assertEqual(results[0]['title'], BROADBAND)
        scores = [r['score'] for r in results]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertEqual(len(results), 3)

        self.assertEqual(
            [r['title'] for r in Article.search_text("话费")], ["话费查询"])
        self.assertEqual(Article.search_text("余额")[0]['title'], "话费查询")
        self.assertEqual(Article.search_text("漫游 开通", limit=1), [{
                    'id': Article.search([('title', '=', "国际漫游开通")])[0].id,
                    'title': "国际漫游开通",
                    'score': Article.search_text("漫游 开通")[0]['score'],
                    }])
        self.assertEqual(Article.search_text("的"), [])

        # The web client's search box ranks too.
        found = Article.search([('rec_name', 'ilike', '%宽带报修%')])
        self.assertEqual(found[0], broadband)
        self.assertEqual(len(found), 3)
        self.assertEqual(Article.search(
                [('rec_name', 'ilike', '%宽带报修%')], count=True), 3)

    @with_transaction()
    def test_search_index_follows_edits(self):
        "Edits and tag renames reindex the article"
        pool = Pool()
        Article = pool.get('cc.kb.article')
        Tag = pool.get('cc.kb.tag')
        tag, = Tag.create([{'name': "光猫"}])
        article = self.article("路由器重启", tags=[('add', [tag.id])])

        def found(text):
            return [r['id'] for r in Article.search_text(text)]
        Article.write([article], {'body': "<p>指示灯<i>闪烁</i></p>"})
        Article.submit([article])
        Article.publish([article])
        self.assertEqual(found("闪烁"), [article.id])
        self.assertEqual(found("光猫"), [article.id])

        Tag.write([tag], {'name': "机顶盒"})
        self.assertEqual(found("光猫"), [])
        self.assertEqual(found("机顶盒"), [article.id])

    @with_transaction()
    def test_search_validity(self):
        "Agents find only published articles valid today"
        pool = Pool()
        Article = pool.get('cc.kb.article')
        Date = pool.get('ir.date')
        today = Date.today()
        day = datetime.timedelta(days=1)
        agent = self.user('agent', 'group_cc_agent')
        valid = self.published("宽带资费", valid_from=today - day,
            valid_to=today + day)
        self.published("宽带旧资费", valid_to=today - day)
        self.published("宽带新资费", valid_from=today + day)
        self.article("宽带草稿")
        archived = self.published("宽带归档")
        Article.archive([archived])

        self.assertEqual(
            [r['id'] for r in Article.search_text("宽带")], [valid.id])
        self.assertEqual(
            Article.search([('current', '=', False)], order=[('id', 'ASC')]),
            Article.search([('title', 'in', ["宽带旧资费", "宽带新资费"])],
                order=[('id', 'ASC')]))

        with as_user(agent):
            self.assertEqual(
                [r['id'] for r in Article.search_text("宽带")], [valid.id])
            self.assertEqual(Article.search([]), [Article(valid.id)])
            with self.assertRaises(AccessError):
                Article.read([archived.id], ['title'])

    @with_transaction()
    def test_bulletin_audience(self):
        "Agents see the published, current bulletins meant for them"
        pool = Pool()
        Bulletin = pool.get('cc.bulletin')
        ModelData = pool.get('ir.model.data')
        now = datetime.datetime.now()
        hour = datetime.timedelta(hours=1)
        agent = self.user('agent', 'group_cc_agent')
        inspector = self.user('inspector', 'group_cc_qa')
        qa = ModelData.get_id('cc_base', 'group_cc_qa')
        to_all, to_qa, draft, expired = Bulletin.create([{
                    'title': "全员通知",
                    }, {
                    'title': "质检通知", 'audience': 'groups',
                    'groups': [('add', [qa])],
                    }, {
                    'title': "草稿",
                    }, {
                    'title': "过期通知",
                    'valid_from': now - 2 * hour, 'valid_to': now - hour,
                    }])
        Bulletin.publish([to_all, to_qa, expired])

        with as_user(agent):
            self.assertEqual(Bulletin.search([]), [to_all])
            with self.assertRaises(AccessError):
                Bulletin.read([to_qa.id], ['title'])
        with as_user(inspector):
            self.assertEqual(
                set(Bulletin.search([])), {to_all, to_qa})
            self.assertEqual(
                set(Bulletin.search([('for_me', '=', True)])), {to_all, to_qa})

        self.assertEqual(Bulletin(to_qa.id).target_count, 1)
        # agent, inspector (QA is an agent group) and admin.
        self.assertEqual(Bulletin(to_all.id).target_count, 3)

    @with_transaction()
    def test_bulletin_receipts(self):
        "Mark as Read records one receipt per user"
        pool = Pool()
        Bulletin = pool.get('cc.bulletin')
        Receipt = pool.get('cc.bulletin.receipt')
        agent = self.user('agent', 'group_cc_agent')
        other = self.user('other', 'group_cc_agent')
        first, second = Bulletin.create([{'title': "一"}, {'title': "二"}])
        Bulletin.publish([first, second])

        with as_user(agent):
            unread = [('read_by_me', '=', False)]
            self.assertEqual(set(Bulletin.search(unread)), {first, second})
            Bulletin.mark_read([Bulletin(first.id)])
            # Read already: the button is hidden and marking again is a no-op.
            with self.assertRaises(UserError):
                Bulletin.mark_read([Bulletin(first.id)])
            Receipt.mark([Bulletin(first.id)])
            self.assertEqual(Bulletin.search(unread), [second])
            self.assertEqual(
                Bulletin.search([('read_by_me', '=', True)]), [first])
            self.assertTrue(Bulletin(first.id).read_by_me)
            self.assertEqual(len(Receipt.search([])), 1)
        with as_user(other):
            self.assertFalse(Bulletin(first.id).read_by_me)
            self.assertEqual(Receipt.search([]), [])

        self.assertEqual(Bulletin(first.id).read_count, 1)
        # The two agents and admin, an agent through Administrator.
        self.assertEqual(Bulletin(first.id).target_count, 3)
        self.assertEqual(Bulletin(second.id).read_count, 0)
        with self.assertRaises(UserError):
            Receipt.create([{
                        'bulletin': first.id, 'user': agent.id,
                        'read_at': datetime.datetime.now()}])

    @with_transaction()
    def test_bulletin_published_readonly(self):
        "A bulletin's audience cannot change behind its receipts"
        Bulletin = Pool().get('cc.bulletin')
        bulletin, = Bulletin.create([{'title': "通知"}])
        Bulletin.publish([bulletin])
        self.assertEqual(bulletin.published_by.id, Transaction().user)
        Bulletin.draft([bulletin])
        self.assertEqual(bulletin.state, 'draft')


class KbSearchTestCase(unittest.TestCase):
    "Test the segmentation and ranking engine"

    def test_html_to_text(self):
        self.assertEqual(
            kbsearch.html_to_text("<p>宽带&amp;<b>报修</b></p>").split(),
            ["宽带&", "报修"])
        self.assertEqual(kbsearch.html_to_text(None), '')
        self.assertEqual(kbsearch.html_to_text("a &lt; b"), "a < b")

    def test_terms(self):
        self.assertEqual(kbsearch.terms("宽带故障报修"), ["宽带", "故障", "报修"])
        # Full-width forms typed by Chinese input methods fold to ASCII.
        self.assertEqual(kbsearch.terms("ＡＤＳＬ的，Modem"), ["adsl", "modem"])

    def test_query_terms(self):
        self.assertEqual(
            kbsearch.query_terms("%宽带%宽带 报修%"), ["宽带", "报修"])

    def test_document_terms(self):
        weights = kbsearch.document_terms({
                'title': "宽带报修", 'body': "宽带", 'keywords': "",
                'tags': "光猫"})
        self.assertEqual(weights, {"宽带": 4.0, "报修": 3.0, "光猫": 2.0})

    def test_rank(self):
        matches = {
            1: {"宽带": 3.0, "报修": 3.0},
            2: {"宽带": 1.0},
            3: {"宽带": 3.0},
            }
        ranked = kbsearch.rank(matches, 10, {1: 20, 2: 20, 3: 20}, 20)
        self.assertEqual([d for d, _ in ranked], [1, 3, 2])
        self.assertEqual(kbsearch.rank({}, 0, {}, None), [])

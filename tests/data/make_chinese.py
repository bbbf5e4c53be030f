"""Writes the Chinese text the tests read: chinese/corpus.txt, a pretraining
corpus (one sentence a line, a blank line between documents) and
chinese/news.txt, held-out news sentences (one a line).

The Chinese corpora in the benchmarks' shared data state no licence that
allows redistribution, so these sentences are composed from the templates and
word lists below, which were written for this project: news-style and
review-style sentences about people, places, organisations and events, with
full-width and ASCII digits, a few Latin words and Chinese punctuation. The
output is the same on every run (fixed seeds).

    python tests/data/make_chinese.py
"""

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent / "chinese"

PEOPLE = ["王芳", "李明", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周强", "吴敏",
          "徐晓东", "孙红梅", "马建国", "朱海燕", "胡志刚", "郭晶晶", "何文", "高峰", "林小雨",
          "罗成", "郑家豪", "梁秀英", "谢春华", "宋玉兰", "唐国庆", "韩雪", "冯振华", "邓丽君"]
PLACES = ["北京", "上海", "深圳", "广州", "杭州", "南京", "成都", "武汉", "西安", "重庆",
          "天津", "苏州", "长沙", "青岛", "大连", "厦门", "昆明", "哈尔滨", "乌鲁木齐", "拉萨",
          "香港", "澳门", "台湾", "河北省", "山东省", "云南省", "黑龙江省", "长江", "黄河",
          "珠江三角洲", "内蒙古", "新疆", "西藏", "海南岛", "东京", "巴黎", "伦敦", "纽约"]
ORGS = ["新华社", "国务院", "人民银行", "中国科学院", "北京大学", "清华大学", "联合国",
        "世界卫生组织", "中央电视台", "人民日报", "铁道部", "教育部", "外交部", "农业部",
        "最高人民法院", "中国足球协会", "国家统计局", "市政府", "红十字会", "中国银行"]
TIMES = ["今天", "昨天", "上午", "下午", "日前", "近日", "本月", "去年", "今年年初",
         "１９９８年", "２００８年８月", "3月15日", "春节期间", "国庆节前夕", "上周末", "明年"]
NEWS = [
    "{T}，{P}在{L}会见了来自{L}的代表团，双方就经济合作交换了意见。",
    "据{O}报道，{L}{T}发生了一起交通事故，造成三人受伤。",
    "{O}{T}发布通知，要求各地加强安全生产检查，防止重大事故发生。",
    "{P}表示，{L}的改革开放取得了巨大成就，人民生活水平明显提高。",
    "{T}，{O}在{L}召开新闻发布会，介绍了今年的工作计划。",
    "新华社{L}{T}电（记者{P}）{L}的农民今年粮食产量创历史新高。",
    "{P}是{O}的研究员，他长期从事环境保护方面的研究工作。",
    "{L}市民{P}说：“这几年变化太大了，交通越来越方便。”",
    "{O}决定在{L}建设一座现代化的图书馆，预计明年完工。",
    "{T}{L}遭遇暴雨袭击，当地政府立即组织群众转移。",
    "{P}和{P}代表{O}参加了在{L}举行的国际会议。",
    "{O}负责人{P}指出，要进一步扩大对外开放，促进经济持续健康发展。",
    "{L}的旅游业发展迅速，{T}接待游客超过两百万人次。",
    "{P}当选为{O}新一届主席，任期五年。",
    "在{L}工作的{P}获得了全国劳动模范的称号。",
    "{O}与{O}签署了合作协议，共同推动科技创新。",
    "{T}，{L}举行了盛大的庆祝活动，数万名群众参加。",
    "{P}在{L}发表讲话，强调要坚持依法治国，维护社会稳定。",
    "{L}的学校{T}开学，孩子们回到了宽敞明亮的教室。",
    "记者从{O}获悉，{L}将新建十所医院，改善医疗条件。",
]
REVIEWS = [
    "这家酒店位于{L}市中心，交通方便，房间干净，服务也很热情。",
    "房间太小了，隔音效果很差，晚上根本睡不好，不会再来了。",
    "早餐品种丰富，味道不错，性价比很高，推荐大家入住。",
    "前台服务员态度冷淡，办理入住等了半个小时，非常失望。",
    "这本书写得很好，故事情节引人入胜，我一口气就看完了。",
    "手机用了一个月就坏了，质量太差，客服也不理人。",
    "电脑运行速度很快，屏幕清晰，键盘手感也很好，值得购买。",
    "物流很慢，包装破损，商品有划痕，给差评。",
    "环境优美，空气清新，很适合周末带家人来度假。",
    "价格偏贵，但是设施齐全，总体来说还是满意的。",
    "Wi-Fi信号不好，网速很慢，希望酒店能够改进。",
    "我们一家人在{L}玩得很开心，导游讲解得非常详细。",
]
WORDS = ["经济", "发展", "社会", "文化", "教育", "科学", "技术", "历史", "人民", "国家",
         "世界", "和平", "友谊", "合作", "建设", "改革", "市场", "企业", "工人", "农村",
         "城市", "环境", "健康", "生活", "家庭", "青年", "学生", "老师", "医生", "记者",
         "音乐", "电影", "体育", "比赛", "冠军", "足球", "篮球", "运动员", "观众", "节目"]
CLAUSES = ["{W}和{W}都很重要。", "我们要重视{W}问题。", "{W}是{W}的基础。",
           "他对{W}很感兴趣。", "关于{W}的讨论十分热烈。", "大家都在关心{W}。"]


def fill(template, rng):
    out = template
    for key, pool in (("{P}", PEOPLE), ("{L}", PLACES), ("{O}", ORGS), ("{T}", TIMES),
                      ("{W}", WORDS)):
        while key in out:
            out = out.replace(key, rng.choice(pool), 1)
    return out


def document(rng):
    if rng.random() < 0.3:
        return [fill(rng.choice(REVIEWS), rng) for _ in range(rng.randint(1, 3))] + [
            fill(rng.choice(CLAUSES), rng)]
    return [fill(rng.choice(NEWS), rng) for _ in range(rng.randint(2, 4))] + [
        fill(rng.choice(CLAUSES), rng)]


def main():
    HERE.mkdir(exist_ok=True)
    rng = random.Random(26)
    documents = [document(rng) for _ in range(500)]
    (HERE / "corpus.txt").write_text("".join("\n".join(d) + "\n\n" for d in documents),
                                     encoding="utf-8")
    rng = random.Random(27)
    news = [fill(rng.choice(NEWS), rng) for _ in range(40)]
    (HERE / "news.txt").write_text("\n".join(news) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

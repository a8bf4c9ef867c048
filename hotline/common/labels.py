"""What staff read for the ledger's codes (Simplified Chinese), in one place for every
listing, export and report."""

from __future__ import annotations

OUTCOMES = {
    "answered": "已接通",
    "abandoned": "排队放弃",
    "unanswered": "无人接听",
    "voicemail": "留言",
    "self_service": "自助服务",
    "after_hours": "非工作时间",
    "referred": "转接外地",
    "ended_in_ivr": "语音结束",
    "interrupted": "中断",
}
IN_PROGRESS = "进行中"
CATEGORIES = {"consultation": "税务咨询", "tip_off": "涉税举报", "complaint": "涉税投诉",
              "suggestion": "意见和建议", "other": "其他"}
UNCATEGORISED = "未分类"
# The topics the 12366 menus set (dialplans/12366.yaml); a topic not listed reads as its code.
TOPICS = {"individual_income_tax": "个人所得税", "social_insurance": "社保费",
          "invoice": "发票", "property_and_land": "财产和行为税", "other": "其他"}
# A work order's kind: a voicemail, a call back (回拨) of an abandoned call, or the
# category of the call it came from.
ORDER_KINDS = {"voicemail": "留言", "callback": "回拨", **CATEGORIES}

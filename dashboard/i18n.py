"""Text for people in zh-CN and English, and times shown in the local time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCALES = ("zh-CN", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app": ("环境与安全在线监控", "Environmental and safety monitoring"),
    "overview": ("总览", "Overview"),
    "alerts": ("告警", "Alerts"),
    "health": ("设备状态", "Device health"),
    "admin": ("管理", "Administration"),
    "login": ("登录", "Sign in"),
    "logout": ("退出", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Wrong username or password"),
    "login_limited": ("尝试次数过多，请稍后再试", "Too many attempts: try again later"),
    "login_needs_https": ("请使用 HTTPS 访问", "Please use HTTPS"),
    "plants": ("企业", "Plants"),
    "plant": ("企业", "Plant"),
    "devices": ("设备", "Devices"),
    "device": ("设备", "Device"),
    "pollutant": ("监测项目", "Pollutant"),
    "value": ("数值", "Value"),
    "unit": ("单位", "Unit"),
    "limit": ("限值", "Limit"),
    "line_warning": ("预警线", "Warning line"),
    "line_limit": ("限值", "Limit"),
    "line_level1": ("一级报警", "Level 1 alarm"),
    "line_level2": ("二级报警", "Level 2 alarm"),
    "flag": ("标记", "Flag"),
    "age": ("数据时间", "Age"),
    "severity": ("级别", "Severity"),
    "state": ("状态", "State"),
    "district": ("区", "District"),
    "opened_at": ("开始时间", "Opened"),
    "all": ("全部", "All"),
    "active": ("未关闭", "Active"),
    "filter": ("筛选", "Filter"),
    "acknowledge": ("确认", "Acknowledge"),
    "disposition": ("处置结论", "Disposition"),
    "note": ("备注", "Note"),
    "add_note": ("添加备注", "Add note"),
    "resolve": ("解除", "Resolve"),
    "timeline": ("时间线", "Timeline"),
    "notifications": ("通知", "Notifications"),
    "report": ("检查报告", "Inspection report"),
    "no_report": ("暂无报告", "No report yet"),
    "open_alerts": ("未处理告警", "Open alerts"),
    "last_seen": ("最后上线", "Last seen"),
    "transmission": ("传输率", "Transmission"),
    "validity": ("有效率", "Validity"),
    "quarantine": ("隔离报文", "Quarantined messages"),
    "reason": ("原因", "Reason"),
    "received_at": ("接收时间", "Received"),
    "never": ("从未", "never"),
    "offline": ("离线", "offline"),
    "online": ("在线", "online"),
    "range": ("时间范围", "Range"),
    "users": ("用户", "Users"),
    "role": ("角色", "Role"),
    "districts": ("辖区", "Districts"),
    "site_codes": ("企业编码", "Plant codes"),
    "create": ("新建", "Create"),
    "disable": ("停用", "Disable"),
    "maintenance": ("维护窗口", "Maintenance windows"),
    "recipients": ("接收人", "Recipients"),
    "chains": ("升级链", "Escalation chains"),
    "limits": ("限值", "Limits"),
    "audit": ("审计日志", "Audit log"),
    "starts_at": ("开始", "Starts"),
    "ends_at": ("结束", "Ends"),
    "phone": ("电话", "Phone"),
    "name": ("名称", "Name"),
    "saved": ("已保存", "Saved"),
    "new_password": ("初始密码（仅显示一次）", "Initial password (shown once)"),
    "link_invalid": ("链接无效：已被修改或不完整。", "This link is not valid: it was altered or is incomplete."),
    "link_expired": (
        "链接已过期，请联系值班人员获取新链接。", "This link has expired: ask the duty officer for a new one."
    ),
    "link_revoked": ("链接已被撤销。", "This link was revoked."),
    "forbidden": ("无权执行此操作", "You may not do this"),
    "not_found": ("未找到", "Not found"),
    "live": ("实时", "live"),
    "language": ("English", "中文"),
    "warning": ("预警", "warning"),
    "exceedance": ("超标", "exceedance"),
    "severe": ("严重超标", "severe"),
    "level1": ("一级报警", "level 1 alarm"),
    "level2": ("二级报警", "level 2 alarm"),
    "fault": ("设备故障", "device fault"),
    "open": ("新告警", "open"),
    "escalated": ("已升级", "escalated"),
    "acknowledged": ("已确认", "acknowledged"),
    "resolved": ("已解除", "resolved"),
    "closed": ("已关闭", "closed"),
    "confirmed": ("确认超标", "confirmed"),
    "false_alarm": ("误报", "false alarm"),
    "device_fault": ("设备故障", "device fault"),
    "enforcement_case": ("立案查处", "enforcement case"),
    # Why an alert's notifications were recorded, not sent (alerts/notify/heard.py; "kind: detail" in the outbox).
    "not_sent": ("未发送", "Not sent"),
    "suppressed_maintenance": ("维护期间", "maintenance window"),
    "suppressed_silenced": ("已静默", "silenced"),
    "suppressed_platform_fault": ("平台故障期间暂缓", "held back during a platform fault"),
    "suppressed_no_recipient": ("未配置接收人", "no recipient configured"),
    # ---- issue 18, what operators and inspectors see (r18-look): map, phone, charts, health, attention ----
    "confirmed_alarm": ("确认报警", "confirmed alarm"),
    "confirmed_fault": ("确认故障", "confirmed fault"),
    "call_plant": ("联系企业", "Call the plant"),
    "incident_chart": ("告警前后数据", "Readings around the breach"),
    "breach": ("告警开始", "Breach"),
    "compare_previous": ("对比上一周期", "Compare with the period before"),
    "previous_period": ("上一周期", "Period before"),
    "zoom_hint": ("拖动选择区域放大，双击复原", "Drag to zoom, double-click to reset"),
    "map_zoom_in": ("放大", "Zoom in"),
    "map_zoom_out": ("缩小", "Zoom out"),
    "map_reset": ("复原", "Reset"),
    "map_cluster": ("家企业", "plants"),
    "zoom_hint_map": (
        "滚轮或双指缩放，拖动平移，点击聚合圈放大", "Wheel or pinch to zoom, drag to pan, click a group to zoom in"
    ),
    "status_ok": ("正常", "OK"),
    "attention": ("声音与通知提醒", "Sound and notification alerts"),
    "attention_on": ("提醒已开启", "Alerts on"),
    "attention_off": ("开启提醒", "Turn alerts on"),
    "attention_blocked": ("浏览器禁止了通知，仅声音提醒", "The browser blocks notifications: sound only"),
    "search": ("搜索", "Search"),
    "sort_by": ("排序", "Sort by"),
    "ascending": ("升序", "ascending"),
    "descending": ("降序", "descending"),
    "status": ("状态", "Status"),
    "group_by_plant": ("按企业分组", "Group by plant"),
    "per_page": ("每页", "Per page"),
    "page_of": ("第 {page} / {pages} 页，共 {total} 台", "Page {page} of {pages}, {total} devices"),
    "previous_page": ("上一页", "Previous"),
    "next_page": ("下一页", "Next"),
    "rates_since": ("自首次上线起算", "counted from first seen"),
    "no_devices": ("没有符合条件的设备", "No device matches"),
    # ---- end of the r18-look block ----
    # The enterprise file (issue 19; dashboard/templates/enterprise_file.html).
    "enterprise_file": ("企业档案", "Enterprise file"),
    "permit": ("排污许可证", "Discharge permit"),
    "permit_number": ("许可证编号", "Permit number"),
    "valid": ("有效期", "Valid"),
    "permit_expired": ("已过期", "expired"),
    "outlet": ("排放口", "Outlet"),
    "basis": ("判定依据", "Basis"),
    "basis_day": ("日均值", "daily mean"),
    "basis_hour": ("小时均值", "hourly mean"),
    "basis_instant": ("瞬时值", "instantaneous"),
    "permitted_limit": ("许可排放浓度", "Permitted concentration"),
    "set_permit_limit": ("设置许可限值", "Set permit limit"),
    "save_permit": ("保存许可证及排放口", "Save permit and outlet"),
    "lower": ("下限", "Lower"),
    "upper": ("上限", "Upper"),
    "limits_in_force": ("现行限值", "Limits in force"),
    "limit_source": ("限值来源", "Limit source"),
    "from_permit": ("排污许可证(严于国家标准)", "Discharge permit (stricter than the national standard)"),
    "from_standard": ("排放标准", "Discharge standard"),
    "eia_records": ("环评批复与验收", "EIA approval and acceptance"),
    "eia_approval": ("环评批复", "EIA approval"),
    "eia_acceptance": ("竣工环保验收", "Environmental acceptance"),
    "record_kind": ("类型", "Type"),
    "document_number": ("文号", "Number"),
    "authority": ("审批机关", "Authority"),
    "decided_on": ("日期", "Date"),
    "enforcement_records": ("执法记录", "Enforcement records"),
    "case_number": ("案件编号", "Case number"),
    "penalty_yuan": ("罚款(元)", "Penalty (CNY)"),
    "add_enforcement": ("添加执法记录", "Add enforcement record"),
    "enf_inspection": ("现场检查", "inspection"),
    "enf_warning": ("警告", "warning"),
    "enf_order_to_correct": ("责令改正", "order to correct"),
    "enf_penalty": ("罚款", "fine"),
    "enf_daily_penalty": ("按日连续处罚", "daily continuing fine"),
    "enf_seizure": ("查封扣押", "seizure"),
    "enf_production_limit": ("限产停产", "production restricted or stopped"),
    "enf_referral": ("移送公安", "referred to the police"),
    "enf_open": ("办理中", "open"),
    "enf_rectifying": ("整改中", "rectifying"),
    "enf_closed": ("已结案", "closed"),
    "enf_appealed": ("复议或诉讼中", "under appeal"),
    "documents": ("附件", "Documents"),
    "category": ("类别", "Category"),
    "doc_permit": ("排污许可证", "permit"),
    "doc_eia": ("环评文件", "EIA"),
    "doc_acceptance": ("验收文件", "acceptance"),
    "doc_enforcement": ("执法文书", "enforcement"),
    "doc_other": ("其他", "other"),
    "upload": ("上传", "Upload"),
    "alert_history": ("近12个月告警", "Alerts in the last 12 months"),
    "none_recorded": ("暂无记录", "None recorded"),
    # The plant's answer to an exceedance (issue 19 part 2; answer.html, alert.html).
    "answer_title": ("超标说明", "Plant's explanation"),
    "alert_code": ("告警码", "Alert code"),
    "peak": ("峰值", "Peak"),
    "answer_deadline": ("说明期限", "Answer by"),
    "answer_cause": ("超标原因", "Cause"),
    "answer_measures": ("已采取的措施", "Measures taken"),
    "answer_recovery": ("预计恢复时间", "Expected recovery"),
    "answer_submit": ("提交说明", "Submit"),
    "answer_received": ("说明已提交，执法人员将审阅。", "Your explanation was received; the inspector will review it."),
    "answer_round": ("第几轮", "Round"),
    "answer_state_waiting": ("等待企业说明", "waiting for the plant"),
    "answer_state_answered": ("企业已说明,待审阅", "answered, to review"),
    "answer_state_accepted": ("已采纳", "accepted"),
    "answer_state_asked_again": ("已要求重新说明", "asked again"),
    "answer_reminded": ("已提醒", "reminded"),
    "answer_overdue": ("逾期未说明,已通知执法人员", "overdue, inspector told"),
    "answer_accept": ("采纳说明", "Accept"),
    "answer_ask_again": ("要求重新说明", "Ask again"),
    "answer_requested": ("已请企业说明", "plant asked for an explanation"),
    "answer_submitted": ("企业提交说明", "plant answered"),
    "answer_accepted": ("说明被采纳", "answer accepted"),
    "answer_asked_again": ("要求重新说明", "asked again"),
    "answer_attachment": ("企业上传附件", "plant attached a file"),
}


def text(locale: str, key: str) -> str:
    """The text of a key in the locale (the key itself when unknown, so a gap shows instead of failing)."""
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if locale == "en" else pair[0]


def pick_locale(requested: str | None, default: str) -> str:
    """A supported locale: the requested one when known, else the default."""
    return requested if requested in LOCALES else default


def local_time(value: datetime | None, zone: ZoneInfo, *, seconds: bool = True) -> str:
    """A UTC time as people read it in the local zone ('' for none)."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def age_text(seconds: float | None, locale: str) -> str:
    """How long ago, briefly: 45 s, 12 min, 3 h, 2 d."""
    if seconds is None:
        return text(locale, "never")
    zh = locale != "en"
    for size, zh_unit, en_unit in ((86400, "天", "d"), (3600, "小时", "h"), (60, "分钟", "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {zh_unit if zh else en_unit}"
    return f"{int(max(seconds, 0))} {'秒' if zh else 's'}"

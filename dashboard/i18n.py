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
    # --- r18-work block (issue 18): exports, rule names, delivery statuses. Kept together for merging. ---
    "export": ("导出", "Export"),
    "export_title": ("数据导出", "Export data"),
    "export_kind": ("内容", "Contents"),
    "export_readings": ("原始数据", "Raw readings"),
    "export_hourly": ("小时均值", "Hourly means"),
    "export_daily": ("日均值", "Daily means"),
    "export_alerts": ("告警及时间线", "Alerts with timelines"),
    "export_notifications": ("通知记录", "Notification log"),
    "export_from": ("起始日期", "From"),
    "export_to": ("截止日期（含）", "To (inclusive)"),
    "export_format": ("格式", "Format"),
    "export_download": ("下载", "Download"),
    "export_target_hint": (
        "选择企业、设备（MN 编码）或辖区之一；时间按本地时区。",
        "Choose a plant, a device (MN code) or a district; times are local.",
    ),
    "bad_request": ("请求内容不正确", "The request is not valid"),
    "export_time": ("时间", "Time"),
    "export_pollutant_code": ("监测项目编码", "Pollutant code"),
    "export_valid": ("有效", "Valid"),
    "export_bucket": ("时段开始", "Interval start"),
    "export_mean": ("均值", "Mean"),
    "export_min": ("最小值", "Minimum"),
    "export_max": ("最大值", "Maximum"),
    "export_samples": ("样本数", "Samples"),
    "export_valid_samples": ("有效样本数", "Valid samples"),
    "export_alert": ("告警编号", "Alert"),
    "export_plant_name": ("企业名称", "Plant name"),
    "export_rule": ("规则", "Rule"),
    "export_peak": ("峰值", "Peak"),
    "export_event_time": ("事件时间", "Event time"),
    "export_from_state": ("原状态", "From state"),
    "export_to_state": ("新状态", "To state"),
    "export_actor": ("操作者", "Actor"),
    "export_created": ("创建时间", "Created"),
    "export_status": ("投递状态", "Delivery status"),
    "export_attempts": ("尝试次数", "Attempts"),
    "export_error_code": ("错误码", "Error code"),
    "export_sent": ("发送时间", "Sent"),
    "export_provider_id": ("短信平台编号", "Provider id"),
    "export_body": ("短信内容", "Message"),
    "export_yes": ("是", "yes"),
    "export_no": ("否", "no"),
    "rule_instant": ("瞬时值", "instantaneous value"),
    "rule_gas": ("气体报警", "gas alarm"),
    "rule_zero_flow": ("零流量", "zero flow"),
    "rule_constant": ("数值恒定", "constant value"),
    "rule_negative": ("负值", "negative value"),
    "rule_implausible": ("数值异常", "implausible value"),
    "rule_hour_avg": ("小时均值", "hourly mean"),
    "rule_day_avg": ("日均值", "daily mean"),
    "rule_flag": ("设备状态标记", "device status flag"),
    "rule_manual": ("手工数据", "manually set value"),
    "rule_silent": ("设备失联", "silent device"),
    "delivery_pending": ("待发送", "pending"),
    "delivery_sending": ("发送中", "sending"),
    "delivery_sent": ("已发送", "sent"),
    "delivery_delivered": ("已送达", "delivered"),
    "delivery_failed": ("发送失败", "failed"),
    "delivery_undelivered": ("未送达", "undelivered"),
    "delivery_suppressed": ("未发送", "not sent"),
    # --- end of the r18-work block ---
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

// Camera facts for the reviewer (make, model, capture time, GPS, software) and the
// oddities a reviewer should notice: a capture time after the upload, a capture time
// before the order was delivered (the photo cannot show the delivered item), camera data
// missing from what should be a phone photo, a modify date apart from the capture.
// Low weight on purpose: messaging apps strip EXIF and phone clocks drift, so these
// facts inform a human; they never decide on their own.

import { round, signal } from '../signal.ts';
import type { AnalysisContext, DecodedImage, Detector, LocalizedText, Signal, SignalVerdict } from '../types.ts';
import { exifTime, tagText, type ExifTime } from './metadata-common.ts';

/** Without a stated UTC offset an EXIF time may be off by up to this much (UTC−12 … UTC+14). */
const UNKNOWN_ZONE_SLACK_MS = 14 * 3600_000;
/** Clock drift and transfer delays tolerated when the offset is known. */
const KNOWN_ZONE_SLACK_MS = 10 * 60_000;
/** Modify and capture times further apart than this mean the file was saved again later. */
const MODIFY_GAP_MS = 60_000;

export type Oddity =
  | 'capture_after_upload'
  | 'capture_before_delivery'
  | 'missing_camera_data'
  | 'modified_after_capture';

interface OddityInfo {
  id: Oddity;
  score: number;
  verdict: SignalVerdict;
  text: LocalizedText;
}

function fmtDuration(ms: number): { en: string; zh: string } {
  const h = Math.abs(ms) / 3600_000;
  if (h >= 48) return { en: `${Math.round(h / 24)} days`, zh: `${Math.round(h / 24)} 天` };
  if (h >= 1) return { en: `${round(h, 1)} hours`, zh: `${round(h, 1)} 小时` };
  return { en: `${Math.round(Math.abs(ms) / 60_000)} minutes`, zh: `${Math.round(Math.abs(ms) / 60_000)} 分钟` };
}

function gpsOf(tags: Record<string, unknown>): { latitude: number; longitude: number } | undefined {
  const lat = tags['latitude'];
  const lon = tags['longitude'];
  if (typeof lat === 'number' && typeof lon === 'number' && Number.isFinite(lat) && Number.isFinite(lon)) {
    // Rounded to ~1 km: enough to compare with a delivery city, not to pin a home.
    return { latitude: round(lat, 2), longitude: round(lon, 2) };
  }
  return undefined;
}

export function consistencySignals(
  format: DecodedImage['format'],
  tags: Record<string, unknown>,
  ctx: AnalysisContext,
): Signal[] {
  const make = tagText(tags, 'Make');
  const model = tagText(tags, 'Model');
  const software = tagText(tags, 'Software');
  const lens = tagText(tags, 'LensModel');
  const capture: ExifTime | undefined =
    exifTime(tags['DateTimeOriginal'], tags['OffsetTimeOriginal'] ?? tags['OffsetTime']) ??
    exifTime(tags['CreateDate'], tags['OffsetTimeDigitized'] ?? tags['OffsetTime']);
  const modify = exifTime(tags['ModifyDate'], tags['OffsetTime']);
  const gps = gpsOf(tags);
  const uploadedAt = ctx.uploadedAt ?? new Date();
  const oddities: OddityInfo[] = [];

  if (capture) {
    const slack = capture.utcMs !== undefined ? KNOWN_ZONE_SLACK_MS : UNKNOWN_ZONE_SLACK_MS;
    const at = capture.utcMs ?? capture.naiveMs;
    const afterUpload = at - uploadedAt.getTime();
    if (afterUpload > slack) {
      const d = fmtDuration(afterUpload);
      oddities.push({
        id: 'capture_after_upload',
        score: 0.3,
        verdict: 'suspicious',
        text: {
          en: `capture time ${capture.wall} is ${d.en} after the upload time`,
          zh: `拍摄时间 ${capture.wall} 晚于上传时间 ${d.zh}`,
        },
      });
    }
    if (ctx.deliveredAt) {
      const beforeDelivery = ctx.deliveredAt.getTime() - at;
      if (beforeDelivery > slack) {
        const d = fmtDuration(beforeDelivery);
        oddities.push({
          id: 'capture_before_delivery',
          score: 0.35,
          verdict: 'suspicious',
          text: {
            en: `capture time ${capture.wall} is ${d.en} before the order was delivered (${ctx.deliveredAt.toISOString()})`,
            zh: `拍摄时间 ${capture.wall} 早于订单签收时间（${ctx.deliveredAt.toISOString()}）${d.zh}`,
          },
        });
      }
    }
    if (modify && Math.abs(modify.naiveMs - capture.naiveMs) > MODIFY_GAP_MS) {
      const d = fmtDuration(modify.naiveMs - capture.naiveMs);
      oddities.push({
        id: 'modified_after_capture',
        score: 0.15,
        verdict: 'info',
        text: {
          en: `modify date ${modify.wall} differs from the capture time by ${d.en}`,
          zh: `修改时间 ${modify.wall} 与拍摄时间相差 ${d.zh}`,
        },
      });
    }
  }
  const cameraFormat = format === 'jpeg' || format === 'heif';
  if (cameraFormat && !make && !model) {
    oddities.push({
      id: 'missing_camera_data',
      score: 0.2,
      verdict: 'info',
      text: {
        en: 'no camera make or model, although the file is a photo format (chat apps and editors strip these)',
        zh: '照片格式文件中没有相机品牌和型号（聊天软件和编辑软件会删除这些信息）',
      },
    });
  }

  const facts: Record<string, unknown> = {
    make: make ?? null,
    model: model ?? null,
    lens: lens ?? null,
    software: software ?? null,
    captureTime: capture?.wall ?? null,
    captureOffset: tags['OffsetTimeOriginal'] ?? tags['OffsetTime'] ?? null,
    captureTimeUtc: capture?.utcMs !== undefined ? new Date(capture.utcMs).toISOString() : null,
    modifyTime: modify?.wall ?? null,
    gpsPresent: !!gps,
    gps: gps ?? null,
    uploadedAt: uploadedAt.toISOString(),
    deliveredAt: ctx.deliveredAt ? ctx.deliveredAt.toISOString() : null,
  };
  const tagsUsed = ['exif:Make', 'exif:Model', 'exif:DateTimeOriginal', 'exif:ModifyDate', 'exif:Software', 'exif:GPS'].filter((t) => {
    if (t === 'exif:Make') return !!make;
    if (t === 'exif:Model') return !!model;
    if (t === 'exif:DateTimeOriginal') return !!capture;
    if (t === 'exif:ModifyDate') return !!modify;
    if (t === 'exif:Software') return !!software;
    return !!gps;
  });

  const camera = [make, model && make && model.toLowerCase().startsWith(make.toLowerCase()) ? model.slice(make.length).trim() : model]
    .filter(Boolean)
    .join(' ');
  const partsEn = [
    camera ? `camera ${camera}` : 'no camera make/model',
    capture ? `taken ${capture.wall}${capture.offsetMinutes !== undefined ? ` (${facts['captureOffset']})` : ''}` : 'no capture time',
    gps ? 'GPS present' : 'no GPS',
    software ? `software "${software}"` : '',
  ].filter(Boolean);
  const partsZh = [
    camera ? `相机 ${camera}` : '无相机品牌/型号',
    capture ? `拍摄于 ${capture.wall}${capture.offsetMinutes !== undefined ? `（${facts['captureOffset']}）` : ''}` : '无拍摄时间',
    gps ? '有 GPS 定位' : '无 GPS',
    software ? `软件 "${software}"` : '',
  ].filter(Boolean);

  const worst = oddities.reduce<OddityInfo | undefined>((a, o) => (!a || o.score > a.score ? o : a), undefined);
  const verdict: SignalVerdict = oddities.some((o) => o.verdict === 'suspicious') ? 'suspicious' : 'info';
  // Info-level notes (a later modify date, stripped camera data) are common on honest
  // photos; only the time contradictions are called oddities.
  const odd = verdict === 'suspicious';
  const oddEn = oddities.length ? ` ${odd ? 'Oddities' : 'Notes'}: ${oddities.map((o) => o.text.en).join('; ')}.` : '';
  const oddZh = oddities.length ? ` ${odd ? '异常' : '备注'}：${oddities.map((o) => o.text.zh).join('；')}。` : '';
  return [
    signal(
      'exif.consistency',
      verdict,
      worst?.score ?? 0,
      capture ? 0.6 : 0.4,
      { en: `EXIF facts: ${partsEn.join(', ')}.${oddEn}`, zh: `EXIF 信息：${partsZh.join('，')}。${oddZh}` },
      { tags: tagsUsed, ...facts, oddities: oddities.map((o) => o.id), oddityDetails: oddities.map((o) => o.text) },
      oddities.length
        ? {
            en: 'Camera metadata should agree with the claim: a damage photo is taken after delivery and before upload, on a real device. Disagreements are worth a look, but chat apps strip EXIF and phone clocks can be wrong, so this is never proof on its own.',
            zh: '相机元数据应与索赔相符：破损照片应在签收之后、上传之前由真实设备拍摄。不一致之处值得关注，但聊天软件会删除 EXIF，手机时钟也可能不准，因此这本身不能作为证据。',
          }
        : {
            en: 'Facts from the camera metadata for the reviewer; nothing here is out of order.',
            zh: '供审核参考的相机元数据事实；未发现异常。',
          },
    ),
  ];
}

export const exifConsistencyDetector: Detector = {
  id: 'exif.consistency',
  version: '1.0.0',
  async run(image: DecodedImage, ctx: AnalysisContext): Promise<Signal[]> {
    const meta = await image.metadata();
    return consistencySignals(image.format, meta.tags, ctx);
  },
};

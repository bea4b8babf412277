// The console's pure helpers (web/format.js, web/i18n.js), run in Node: region scaling,
// verdict ordering, matched references, language choice and text lookup.

import { test } from 'node:test';
import assert from 'node:assert/strict';
// @ts-ignore -- plain ES modules of the browser console, checked with // @ts-check there
import { formatAge, formatTimeLeft, isVideo, matchedReferenceIds, newIdempotencyKey, overlayOf, regionBoxes, reportForMedia, riskLevel, sortSignals, worstVerdict } from '../../web/format.js';
// @ts-ignore
import { STRINGS, defaultLang, localized, translate } from '../../web/i18n.js';

test('region boxes become percentages of the analysed photo, clipped to it', () => {
  const boxes = regionBoxes(
    [
      { x: 100, y: 50, width: 200, height: 100, score: 0.7, label: 'crack' },
      { x: 900, y: 700, width: 300, height: 300 }, // runs off the bottom-right corner
      { x: -50, y: 10, width: 100, height: 20 }, // starts left of the photo
      { x: 2000, y: 10, width: 10, height: 10 }, // entirely outside
      { x: 10, y: 10, width: 0, height: 10 }, // no area
      { x: Number.NaN, y: 0, width: 5, height: 5 },
    ],
    1000,
    800,
  );
  assert.deepEqual(boxes, [
    { left: 10, top: 6.25, width: 20, height: 12.5, score: 0.7, label: 'crack' },
    { left: 90, top: 87.5, width: 10, height: 12.5 },
    { left: 0, top: 1.25, width: 5, height: 2.5 },
  ]);
  assert.deepEqual(regionBoxes([{ x: 1, y: 1, width: 1, height: 1 }], 0, 100), []);
  assert.deepEqual(regionBoxes(undefined, 100, 100), []);
});

test('verdicts and signals are ordered by seriousness', () => {
  assert.equal(worstVerdict({ images: [{ verdict: 'clean' }, { verdict: 'ai_generated' }, { verdict: 'suspicious' }] }), 'ai_generated');
  assert.equal(worstVerdict({ images: [{ verdict: 'suspicious' }, { verdict: 'tampered' }] }), 'tampered');
  assert.equal(worstVerdict({ images: [{}] }), null);
  assert.equal(worstVerdict(null), null);
  const sorted = sortSignals([
    { id: 'a', verdict: 'info', score: 0.9 },
    { id: 'b', verdict: 'suspicious', score: 0.2 },
    { id: 'c', verdict: 'tampered', score: 0.5 },
    { id: 'd', verdict: 'suspicious', score: 0.6 },
  ]);
  assert.deepEqual(sorted.map((s: any) => s.id), ['c', 'd', 'b', 'a']);
  assert.equal(riskLevel(0.05), 'low');
  assert.equal(riskLevel(0.3), 'medium');
  assert.equal(riskLevel(0.9), 'high');
  assert.equal(riskLevel(null), 'unknown');
});

test('references named anywhere in a signal\'s evidence count as matched; the heatmap is not searched', () => {
  const signals = [
    { evidence: { referenceId: 'med_b', distance: 3 } },
    { evidence: { matches: [{ ownerType: 'reference', ownerId: 'med_c' }] } },
    { evidence: { heatmap: { data: 'med_a' } } },
  ];
  assert.deepEqual(matchedReferenceIds(signals, ['med_a', 'med_b', 'med_c', 'med_d']), ['med_b', 'med_c']);
  const overlay = overlayOf([{ evidence: { regions: [{ x: 1, y: 2, width: 3, height: 4 }] } }, { evidence: { heatmap: { data: 'QQ==' }, regions: [{ x: 5, y: 6, width: 7, height: 8 }] } }]);
  assert.equal(overlay.regions.length, 2);
  assert.equal(overlay.heatmap?.data, 'QQ==');
});

test('an evidence photo finds its report by hash, else by file name', () => {
  const analysis = { images: [{ file: 'a.jpg', sha256: 'aa' }, { file: 'b.jpg', sha256: 'bb' }, { file: 'med_x' }] };
  assert.equal(reportForMedia(analysis, { id: 'm1', sha256: 'bb', filename: 'renamed.jpg' })?.file, 'b.jpg');
  assert.equal(reportForMedia(analysis, { id: 'med_x', sha256: 'zz', filename: '' })?.file, 'med_x');
  assert.equal(reportForMedia(analysis, { id: 'm9', sha256: 'zz', filename: 'none.jpg' }), null);
});

test('ages and deadlines read in both languages', () => {
  const now = Date.parse('2026-01-10T12:00:00Z');
  assert.equal(formatAge('2026-01-10T11:15:00Z', now, 'en'), '45 min');
  assert.equal(formatAge('2026-01-09T12:00:00Z', now, 'en'), '24 h');
  assert.equal(formatAge('2026-01-05T12:00:00Z', now, 'zh-CN'), '5 天');
  assert.equal(formatTimeLeft('2026-01-12T12:00:00Z', now, 'en'), 'in 2 d');
  assert.equal(formatTimeLeft('2026-01-10T13:00:00Z', now, 'zh-CN'), '剩 1 小时');
  assert.equal(formatTimeLeft('2026-01-10T11:00:00Z', now, 'en'), null, 'passed deadline');
  const k1 = newIdempotencyKey();
  assert.match(k1, /^console-[0-9a-f]{32}$/);
  assert.notEqual(k1, newIdempotencyKey());
});

test('language: Chinese browsers get zh-CN, others English; every label exists in both', () => {
  assert.equal(defaultLang(['zh-TW', 'en']), 'zh-CN');
  assert.equal(defaultLang(['en-GB', 'zh-CN']), 'en');
  assert.equal(defaultLang(['fr-FR']), 'en');
  assert.equal(defaultLang(undefined), 'en');
  assert.deepEqual(Object.keys(STRINGS['zh-CN']).sort(), Object.keys(STRINGS.en).sort());
  assert.equal(translate('en', 'claim', { id: 'clm_1' }), 'Claim clm_1');
  assert.equal(translate('zh-CN', 'claim', { id: 'clm_1' }), '申请 clm_1');
  assert.equal(translate('en', 'no.such.key'), 'no.such.key');
  assert.equal(localized('zh-CN', { en: 'crack', zh: '裂纹' }), '裂纹');
  assert.equal(localized('zh-CN', { en: 'crack', zh: '' }), 'crack', 'falls back to the other language');
  assert.equal(localized('en', undefined), '');
});

test('a keyframe of a packing video matches the video; video media are told apart', () => {
  const signals = [{ id: 'reference.derived', verdict: 'tampered', score: 0.9, evidence: { reference: { id: 'med_vid#keyframe-3' } } }];
  assert.deepEqual(matchedReferenceIds(signals, ['med_photo', 'med_vid']), ['med_vid']);
  assert.deepEqual(matchedReferenceIds([{ id: 'x', verdict: 'info', score: 0, evidence: { note: 'med_vidx#keyframe-1' } }], ['med_vid']), []);
  assert.equal(isVideo({ format: 'mp4' }), true);
  assert.equal(isVideo({ format: 'webm' }), true);
  assert.equal(isVideo({ format: 'jpeg' }), false);
  assert.equal(isVideo(null), false);
});

test('a video finds its report through the keyframe that stands for it', () => {
  const analysis = { images: [{ file: 'a.jpg', sha256: 'aa' }, { file: 'damage.mp4#keyframe-2', sha256: 'kf' }] };
  assert.equal(reportForMedia(analysis, { sha256: 'vv', filename: 'damage.mp4' })?.file, 'damage.mp4#keyframe-2');
  assert.equal(reportForMedia(analysis, { sha256: 'vv', filename: 'damage.mp' }), null);
});

// C2PA Content Credentials: reads and validates an embedded manifest store (JPEG APP11
// JUMBF, PNG caBX, WebP C2PA chunk, HEIF/AVIF uuid box) and reports
//   c2pa.manifest     (info)  who signed, with what tool, which actions, validation and trust;
//   c2pa.ai_generated         the manifests declare an AI source type;
//   c2pa.invalid              the signature, the hard-binding hash or the claim fails.
// A cheap structural scan (src/forensics/c2pa/container.ts) runs first, so files without
// C2PA — nearly all claim photos — never reach the validator. The library choice is
// explained in src/forensics/c2pa/reader.ts and docs/c2pa.md.

import { findC2paContainer, type C2paContainer } from '../c2pa/container.ts';
import {
  dataHashBinding,
  excludedNonC2paSegments,
  interpretStore,
  lenientDataHashMatches,
  type C2paAiSource,
  type C2paFacts,
} from '../c2pa/interpret.ts';
import { C2paReadError, readC2pa, type C2paMime } from '../c2pa/reader.ts';
import { signal } from '../signal.ts';
import type { DecodedImage, Detector, Evidence, ImageFormat, Signal } from '../types.ts';

const MIME: Partial<Record<ImageFormat, C2paMime>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  heif: 'image/heic',
  avif: 'image/avif',
};

export const c2paDetector: Detector = {
  id: 'c2pa',
  version: '1.0.0',
  async run(image: DecodedImage): Promise<Signal[]> {
    const container = findC2paContainer(image.bytes, image.format);
    const mime = MIME[image.format];
    if (!container || !mime) return [];
    return analyzeC2pa(image.bytes, mime, container);
  },
};

/** Validates the store found in `container` and turns the outcome into signals. Never throws. */
export async function analyzeC2pa(bytes: Uint8Array, mime: C2paMime, container: C2paContainer): Promise<Signal[]> {
  const where = containerEvidence(container);
  let facts: C2paFacts | undefined;
  let crStore: unknown;
  let readError: C2paReadError | undefined;
  try {
    const result = await readC2pa(bytes, mime, {
      // crJSON (with the data-hash exclusions) is needed only to judge a JPEG hash mismatch.
      withCrJson: (store) => container.kind === 'jpeg-app11' && JSON.stringify(store).includes('Hash.mismatch'),
    });
    facts = interpretStore(result.store);
    crStore = result.crStore;
  } catch (e) {
    readError = e instanceof C2paReadError ? e : new C2paReadError(e instanceof Error ? e.message : String(e), false);
  }
  if (!facts) return unreadableSignals(where, readError);

  const signals: Signal[] = [manifestSignal(facts, where)];
  const ai = aiSignal(facts, where);
  if (ai) signals.push(ai);
  const invalid = invalidSignal(facts, where, container, crStore, bytes);
  if (invalid) signals.push(invalid);
  return signals;
}

function containerEvidence(c: C2paContainer): { container: string; segments: number; bytes: number } {
  return { container: c.kind, segments: c.ranges.length, bytes: c.ranges.reduce((n, r) => n + r.length, 0) };
}

const CONTAINER_TAG: Record<string, string> = {
  'jpeg-app11': 'jpeg:APP11:JUMBF',
  'png-caBX': 'png:caBX',
  'webp-C2PA': 'webp:C2PA',
  'bmff-uuid': 'bmff:uuid:c2pa',
};

function signerText(f: C2paFacts): string {
  return [f.signer.commonName, f.signer.issuer && f.signer.issuer !== f.signer.commonName ? `(${f.signer.issuer})` : undefined]
    .filter(Boolean)
    .join(' ') || 'unknown signer';
}

function manifestSignal(f: C2paFacts, where: ReturnType<typeof containerEvidence>): Signal {
  const valid = !f.errorClass;
  const generator = f.claimGeneratorInfo[0] ?? f.claimGenerator ?? 'unknown tool';
  const actions = [...new Set(f.actions.map((a) => a.action))];
  const actionText = actions.length ? actions.join(', ') : 'none listed';
  const trustEn =
    f.trust.status === 'trusted'
      ? 'the signer is on a configured trust list'
      : `the signer is not on any trust list claimlens checks (none is configured)${valid ? ', so the signature shows the file is unchanged since signing, not who the signer really is' : ''}`;
  const trustZh =
    f.trust.status === 'trusted'
      ? '签名者在已配置的信任列表中'
      : `签名者不在 claimlens 检查的任何信任列表中（目前未配置信任列表）${valid ? '，因此签名只证明文件自签名后未被改动，不能证明签名者的真实身份' : ''}`;
  const testEn = f.testCertificate ? ' It is signed with a TEST certificate (as the public C2PA/Adobe samples are), which no trust list contains.' : '';
  const testZh = f.testCertificate ? ' 该清单使用测试证书签名（公开的 C2PA/Adobe 样例均如此），任何信任列表都不包含此类证书。' : '';
  const ingEn = f.ingredientIssues.length
    ? ` ${f.ingredientIssues.length} ingredient(s) carry their own validation problems (${f.ingredientIssues.map((i) => `${i.ingredient}: ${i.codes.join(', ')}`).join('; ')}); that concerns the source material, not this file's own signature.`
    : '';
  const ingZh = f.ingredientIssues.length
    ? ` 有 ${f.ingredientIssues.length} 个素材（ingredient）自身的校验有问题（${f.ingredientIssues.map((i) => `${i.ingredient}: ${i.codes.join(', ')}`).join('；')}），这关系到来源素材，而非本文件自身的签名。`
    : '';
  const validityEn = valid ? 'signature and content hash validate' : `validation FAILS (${f.errorClass})`;
  const validityZh = valid ? '签名与内容哈希校验通过' : `校验失败（${f.errorClass}）`;

  const tags = ['c2pa:manifest', `c2pa:${CONTAINER_TAG[where.container] ?? where.container}`, valid ? 'c2pa:valid' : 'c2pa:invalid', `c2pa:trust:${f.trust.status}`];
  if (f.testCertificate) tags.push('c2pa:test-certificate');
  if (f.ingredientIssues.length) tags.push('c2pa:ingredient-issues');

  const evidence: Evidence = {
    tags,
    ...where,
    activeManifest: f.activeManifest,
    manifestCount: f.manifestCount,
    claimGenerator: f.claimGenerator,
    claimGeneratorInfo: f.claimGeneratorInfo,
    title: f.title,
    format: f.format,
    signer: f.signer,
    signingTime: f.signingTime,
    actions: f.actions,
    ingredients: f.ingredients.map(({ title, format, relationship, manifest }) => ({ title, format, relationship, hasManifest: !!manifest })),
    validation: {
      state: f.validationState,
      cryptographicallyValid: valid,
      errorClass: f.errorClass,
      failures: f.failures,
    },
    trust: { status: f.trust.status, trustListConfigured: false, codes: f.trust.codes, testCertificate: f.testCertificate },
    ingredientIssues: f.ingredientIssues,
  };

  return signal(
    'c2pa.manifest',
    'info',
    0,
    valid ? 0.95 : 0.9,
    {
      en: `C2PA Content Credentials found: signed by ${signerText(f)}${f.signingTime ? ` at ${f.signingTime}` : ''}, made with ${generator}; actions: ${actionText}; ${validityEn}; ${trustEn}.${testEn}${ingEn}`,
      zh: `发现 C2PA 内容凭证：签名者 ${signerText(f)}${f.signingTime ? `，签名时间 ${f.signingTime}` : ''}，生成工具 ${generator}；操作记录：${actions.length ? actionText : '未列出'}；${validityZh}；${trustZh}。${testZh}${ingZh}`,
    },
    evidence,
    {
      en: 'Content Credentials are a signed record of where a picture comes from and what was done to it. They tell the reviewer which device or tool produced the photo and whether it was edited; they do not by themselves make a claim true or false.',
      zh: '内容凭证是对图片来源及其处理过程的签名记录，可告诉审核人员照片由哪台设备或哪个工具生成、是否经过编辑；它本身并不决定索赔真假。',
    },
  );
}

function aiSignal(f: C2paFacts, where: ReturnType<typeof containerEvidence>): Signal | undefined {
  if (f.aiSources.length === 0) return undefined;
  const pick = (pred: (s: C2paAiSource) => boolean) => f.aiSources.find(pred);
  // What the file itself says first; then what its parent image says; then components.
  const activeTrained = pick((s) => s.active && s.kind === 'trained' && !!s.softwareAgent) ?? pick((s) => s.active && s.kind === 'trained');
  // Prefer the declaration that names the AI tool (e.g. c2pa.edited by Adobe Firefly).
  const activeComposite = pick((s) => s.active && s.kind === 'composite' && !!s.softwareAgent) ?? pick((s) => s.active && s.kind === 'composite');
  const parentTrained = pick((s) => !s.active && s.kind === 'trained' && s.relationship === 'parentOf');
  const componentAi = pick((s) => !s.active && (s.relationship === 'componentOf' || s.kind === 'composite'));
  const anyAi = f.aiSources[0]!;

  const valid = !f.errorClass;
  // A declaration inside a manifest that fails validation is still the file's own claim
  // (nobody forges an AI label to incriminate a photo), but it is less certain.
  const confidence = valid ? 0.95 : 0.6;
  const agent = (s: C2paAiSource) => (s.softwareAgent ? ` by ${s.softwareAgent}` : '');
  const agentZh = (s: C2paAiSource) => (s.softwareAgent ? `（工具：${s.softwareAgent}）` : '');
  const evidence: Evidence = {
    tags: ['c2pa:digitalSourceType', ...new Set(f.aiSources.map((s) => `iptc:digitalsourcetype:${s.kind === 'trained' ? 'trainedAlgorithmicMedia' : 'compositeWithTrainedAlgorithmicMedia'}`))],
    ...where,
    sources: f.aiSources,
    manifestValid: valid,
  };

  if (activeTrained || (!activeComposite && parentTrained)) {
    const s = (activeTrained ?? parentTrained)!;
    const inherited = !activeTrained;
    return signal(
      'c2pa.ai_generated',
      'ai_generated',
      inherited ? 0.85 : 0.95,
      confidence,
      {
        en: inherited
          ? `The Content Credentials show this image was derived from an AI-generated parent image (digitalSourceType trainedAlgorithmicMedia${agent(s)}).`
          : `The Content Credentials declare this image AI-generated: action ${s.action ?? '(assertion)'} has digitalSourceType trainedAlgorithmicMedia${agent(s)}.`,
        zh: inherited
          ? `内容凭证显示该图片源自一张 AI 生成的父图片（digitalSourceType 为 trainedAlgorithmicMedia${agentZh(s)}）。`
          : `内容凭证声明该图片由 AI 生成：操作 ${s.action ?? '（断言）'} 的 digitalSourceType 为 trainedAlgorithmicMedia${agentZh(s)}。`,
      },
      evidence,
      {
        en: 'trainedAlgorithmicMedia is the IPTC term for pictures created by a generative AI model. A photo of damage that was generated rather than taken cannot document a real defect.',
        zh: 'trainedAlgorithmicMedia 是 IPTC 对生成式 AI 模型创作图片的标准术语。生成而非拍摄的"损坏照片"无法证明真实存在的问题。',
      },
    );
  }

  // Partly AI: a photo into which generated content was composited (e.g. Photoshop
  // generative fill). For a damage claim this is the signature of the fraud we look for
  // — real photo, fake crack — so it is reported as tampering, not as a wholly generated image.
  const s = activeComposite ?? componentAi ?? anyAi;
  return signal(
    'c2pa.ai_generated',
    'tampered',
    activeComposite ? 0.9 : 0.75,
    confidence,
    {
      en: `The Content Credentials declare that AI-generated content was composited into this image (digitalSourceType ${s.kind === 'composite' ? 'compositeWithTrainedAlgorithmicMedia' : 'trainedAlgorithmicMedia in an ingredient'}${agent(s)}${s.action ? `, action ${s.action}` : ''}).`,
      zh: `内容凭证声明该图片中合成了 AI 生成的内容（digitalSourceType 为 ${s.kind === 'composite' ? 'compositeWithTrainedAlgorithmicMedia' : '素材中的 trainedAlgorithmicMedia'}${agentZh(s)}${s.action ? `，操作 ${s.action}` : ''}）。`,
    },
    evidence,
    {
      en: 'The picture is a real photo partly repainted by a generative model (for example Photoshop generative fill). Damage shown in the repainted area may not exist; we classify it as tampering because the photo as a whole is not AI-made but its content was changed.',
      zh: '该图片是被生成式模型部分重绘的真实照片（例如 Photoshop 的"生成式填充"）。重绘区域中显示的损坏可能并不存在；由于照片整体并非 AI 生成、而是内容被修改，我们将其归为篡改。',
    },
  );
}

function invalidSignal(
  f: C2paFacts,
  where: ReturnType<typeof containerEvidence>,
  container: C2paContainer,
  crStore: unknown,
  bytes: Uint8Array,
): Signal | undefined {
  if (!f.errorClass) return undefined;
  const codes = [...new Set(f.failures.map((x) => x.code))];
  const evidence: Evidence = {
    tags: ['c2pa:invalid', `c2pa:error:${f.errorClass}`, ...codes.map((c) => `c2pa:${c}`)],
    ...where,
    errorClass: f.errorClass,
    codes,
    failures: f.failures,
    activeManifest: f.activeManifest,
    signer: f.signer,
    claimGenerator: f.claimGenerator,
  };

  if (f.errorClass === 'hash' && codes.every((c) => c === 'assertion.dataHash.mismatch') && container.jpegSegments) {
    // Older camera signers (e.g. the 2023 Truepic sample) excluded EXIF and other metadata
    // from the data hash along with the manifest. Current validators reject that as a
    // mismatch although the image data is untouched. We recompute the hash over exactly
    // the bytes the signer declared: if it matches, nothing outside the declared
    // exclusions changed and this is not tampering evidence.
    const binding = dataHashBinding(crStore, f.activeManifest);
    const broad = binding ? excludedNonC2paSegments(binding.exclusions, container.jpegSegments) : [];
    const lenientMatch = binding && broad.length ? lenientDataHashMatches(bytes, binding) : undefined;
    if (binding && broad.length && lenientMatch) {
      evidence.exclusions = binding.exclusions;
      evidence.excludedSegments = broad.map((s) => ({ marker: `0xFF${s.marker.toString(16).toUpperCase()}`, offset: s.offset, length: s.length }));
      evidence.lenientHashMatches = true;
      (evidence.tags as string[]).push('c2pa:broad-hash-exclusion');
      return signal(
        'c2pa.invalid',
        'suspicious',
        0.2,
        0.5,
        {
          en: `The validator rejects the C2PA content hash because the signer excluded more than the manifest itself from it (${broad.length} other metadata segment(s), e.g. EXIF). Recomputed over the bytes the signer declared, the hash matches: the image data is as signed, but the excluded metadata is not protected by the signature.`,
          zh: `校验器拒绝了 C2PA 内容哈希，因为签名方在哈希中排除了清单以外的内容（另有 ${broad.length} 个元数据段，如 EXIF）。按签名方声明的范围重新计算，哈希一致：图像数据与签名时相同，但被排除的元数据不受签名保护。`,
        },
        evidence,
        {
          en: 'This is a known quirk of early camera signers, not proof of editing; only the unprotected metadata (e.g. capture time, GPS) could have been changed without breaking the hash. Weigh the other signals rather than treating this as tampering.',
          zh: '这是早期相机签名方案的已知问题，并不能证明图片被编辑；只有不受保护的元数据（如拍摄时间、GPS）可能在不破坏哈希的情况下被改动。请结合其他信号判断，而不要直接视为篡改。',
        },
      );
    }
  }

  const byClass = {
    signature: {
      verdict: 'tampered' as const,
      score: 0.9,
      en: `The C2PA signature does not validate (${codes.join(', ')}): the manifest was altered after it was signed, or the signature is forged.`,
      zh: `C2PA 签名校验失败（${codes.join(', ')}）：清单在签名后被改动，或签名是伪造的。`,
    },
    hash: {
      verdict: 'tampered' as const,
      score: 0.9,
      en: `The C2PA hard binding fails (${codes.join(', ')}): the image bytes no longer match the hash that was signed, so the file was changed after signing.`,
      zh: `C2PA 硬绑定校验失败（${codes.join(', ')}）：图片数据与签名时的哈希不一致，说明文件在签名后被修改。`,
    },
    claim: {
      verdict: codes.some((c) => /hashedURI\.mismatch|assertion\.missing/.test(c)) ? ('tampered' as const) : ('suspicious' as const),
      score: 0.7,
      en: `The C2PA claim is broken (${codes.join(', ')}): assertions or referenced manifests are missing or do not match what was signed.`,
      zh: `C2PA 声明已损坏（${codes.join(', ')}）：断言或引用的清单缺失，或与签名内容不一致。`,
    },
    credential: {
      verdict: 'suspicious' as const,
      score: 0.4,
      en: `The C2PA signing credential is not valid for this signature (${codes.join(', ')}): expired or revoked certificate.`,
      zh: `C2PA 签名证书对该签名无效（${codes.join(', ')}）：证书已过期或已吊销。`,
    },
  }[f.errorClass];

  return signal('c2pa.invalid', byClass.verdict, byClass.score, 0.9, { en: byClass.en, zh: byClass.zh }, evidence, {
    en: 'A valid C2PA manifest binds the picture to a signature; when validation fails, the file was changed after signing (or its credentials were broken on purpose), so its pixels or its history cannot be taken at face value.',
    zh: '有效的 C2PA 清单会把图片与签名绑定；校验失败说明文件在签名后被改动（或凭证被故意破坏），其像素内容或处理记录都不能直接采信。',
  });
}

function unreadableSignals(where: ReturnType<typeof containerEvidence>, err: C2paReadError | undefined): Signal[] {
  const message = (err?.message ?? 'no active manifest').slice(0, 300);
  const evidence: Evidence = {
    tags: ['c2pa:manifest', `c2pa:${CONTAINER_TAG[where.container] ?? where.container}`, 'c2pa:unreadable'],
    ...where,
    readable: false,
    libraryError: message,
    trapped: err?.trapped ?? false,
  };
  return [
    signal(
      'c2pa.manifest',
      'info',
      0,
      0.8,
      {
        en: `A C2PA manifest store is embedded (${where.container}, ${where.segments} segment(s)) but it cannot be read: ${message}.`,
        zh: `文件中嵌入了 C2PA 清单存储（${where.container}，${where.segments} 段），但无法读取：${message}。`,
      },
      evidence,
      {
        en: 'The file carries Content Credentials that no validator can read; what they said about the picture is unknown.',
        zh: '文件带有无法被校验器读取的内容凭证，无从得知其中关于图片的记录。',
      },
    ),
    signal(
      'c2pa.invalid',
      'suspicious',
      0.5,
      0.6,
      {
        en: `The embedded C2PA manifest store is broken (${message}); the claim cannot be verified.`,
        zh: `嵌入的 C2PA 清单存储已损坏（${message}），无法验证其声明。`,
      },
      { ...evidence, tags: ['c2pa:invalid', 'c2pa:error:claim', 'c2pa:unreadable'], errorClass: 'claim', codes: ['manifest.unreadable'] },
      {
        en: 'Signing tools write well-formed stores; a damaged one usually means the file was modified or truncated after signing. It is weaker evidence than a failed signature because careless re-saving can also damage it.',
        zh: '签名工具写入的清单结构是完整的；清单损坏通常意味着文件在签名后被修改或截断。由于粗心的重新保存也可能造成损坏，这一证据弱于签名校验失败。',
      },
    ),
  ];
}

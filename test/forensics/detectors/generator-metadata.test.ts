import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { generatorMetadataDetector, graphMode, parseA1111 } from '../../../src/forensics/detectors/generator-metadata.ts';
import type { Signal } from '../../../src/forensics/types.ts';
import {
  TAG,
  ascii,
  assertExplained,
  commentSegment,
  jpegWithExif,
  jpegWithXmp,
  pictureJpeg,
  picturePng,
  pngWithText,
  runDetector,
  undef,
  userComment,
  xmpPacket,
} from '../../helpers/labels.ts';
import { fixtureManifest, readShared, sharedPath } from '../../helpers/shared.ts';

let jpegBase: Buffer;
let pngBase: Buffer;
test('setup', async () => {
  jpegBase = await pictureJpeg(200, 150, 7);
  pngBase = await picturePng(96, 96, 8);
});

async function gen(bytes: Uint8Array, name: string): Promise<Signal[]> {
  const out = await runDetector(generatorMetadataDetector, bytes, name);
  for (const s of out) {
    assert.equal(s.id, 'generator.metadata');
    assertExplained(s);
  }
  return out;
}

const withSoftware = (software: string) => jpegWithExif(jpegBase, { ifd0: { [TAG.Make]: ascii('NIKON'), [TAG.Software]: ascii(software) } });

const A1111_INPAINT = [
  'a smartphone with a cracked screen, photo, realistic',
  'Negative prompt: blurry, lowres',
  'Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 12345, Size: 768x1024, Model hash: 6ce0161689, Model: realisticVision_v51-inpainting, Denoising strength: 0.75, Mask blur: 4, Version: v1.6.0',
].join('\n');

test('SD WebUI parameters in PNG text: model, inpainting, prompt', async () => {
  const [s, ...rest] = await gen(pngWithText(pngBase, [{ type: 'tEXt', keyword: 'parameters', text: A1111_INPAINT }]), 'a.png');
  assert.equal(rest.length, 0);
  assert.equal(s!.verdict, 'ai_generated');
  assert.equal(s!.evidence['generator'], 'Stable Diffusion WebUI');
  assert.equal(s!.evidence['mode'], 'inpaint');
  assert.ok((s!.evidence['models'] as string[]).includes('realisticVision_v51-inpainting'));
  assert.match(String(s!.evidence['prompt']), /cracked screen/);
  assert.deepEqual(s!.evidence.tags, ['png:text:parameters']);
  assert.match(s!.summary.en, /inpainting/);
});

test('SD WebUI parameters in a JPEG EXIF UserComment (UNICODE) are found', async () => {
  const txt2img = 'cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd15';
  const jpeg = jpegWithExif(jpegBase, { ifd0: { [TAG.Make]: ascii('x') }, exif: { [TAG.UserComment]: undef(userComment(txt2img, 'UNICODE')) } });
  const [s] = await gen(jpeg, 'a.jpg');
  assert.equal(s!.verdict, 'ai_generated');
  assert.equal(s!.evidence['mode'], 'txt2img');
  assert.deepEqual(s!.evidence.tags, ['exif:UserComment']);
});

test('parseA1111 tells img2img from hires-fix txt2img and ignores ordinary text', () => {
  assert.equal(parseA1111('p\nSteps: 20, Sampler: Euler, Seed: 1, Denoising strength: 0.5')!.mode, 'img2img');
  assert.equal(parseA1111('p\nSteps: 20, Sampler: Euler, Seed: 1, Denoising strength: 0.5, Hires upscale: 2')!.mode, 'txt2img');
  assert.equal(parseA1111('Took 20 steps to the shop. Sampler was there.'), undefined);
});

test('ComfyUI prompt graph: checkpoint, LoRA and mode are named', async () => {
  const prompt = {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
    '10': { class_type: 'LoraLoader', inputs: { lora_name: 'broken_glass.safetensors', model: ['4', 0] } },
    '11': { class_type: 'LoadImage', inputs: { image: 'listing.png' } },
    '12': { class_type: 'VAEEncode', inputs: { pixels: ['11', 0] } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'deep scratch on the lid' } },
    '3': { class_type: 'KSampler', inputs: { denoise: 0.55, latent_image: ['12', 0] } },
  };
  const png = pngWithText(pngBase, [{ type: 'tEXt', keyword: 'prompt', text: JSON.stringify(prompt) }]);
  const [s] = await gen(png, 'a.png');
  assert.equal(s!.evidence['generator'], 'ComfyUI');
  assert.equal(s!.evidence['mode'], 'img2img');
  assert.deepEqual(s!.evidence['models'], ['sd_xl_base_1.0.safetensors']);
  assert.deepEqual(s!.evidence['loras'], ['broken_glass.safetensors']);
  assert.equal(s!.evidence['prompt'], 'deep scratch on the lid');
  assert.match(s!.summary.zh, /图生图/);
});

test('ComfyUI workflow-only chunk is read from the UI graph; muted nodes do not count', async () => {
  const workflow = {
    nodes: [
      { type: 'CheckpointLoaderSimple', widgets_values: ['512-inpainting-ema.safetensors'] },
      { type: 'VAEEncodeForInpaint', widgets_values: [6] },
      { type: 'KSampler', widgets_values: [1, 'fixed', 20] },
      { type: 'LoraLoader', mode: 4, widgets_values: ['muted.safetensors', 1, 1] },
    ],
  };
  const png = pngWithText(pngBase, [{ type: 'iTXt', keyword: 'workflow', text: JSON.stringify(workflow) }]);
  const [s] = await gen(png, 'a.png');
  assert.equal(s!.evidence['mode'], 'inpaint');
  assert.deepEqual(s!.evidence['models'], ['512-inpainting-ema.safetensors']);
  assert.equal(s!.evidence['loras'], undefined);
});

test('graphMode recognises edit and upscale graphs', () => {
  const f = (nodeTypes: string[], models: string[] = []) => ({ nodeTypes, models, loras: [], otherModels: [], prompts: [], denoise: [] });
  assert.equal(graphMode(f(['LoadImage', 'TextEncodeQwenImageEdit', 'KSampler'])), 'edit');
  assert.equal(graphMode(f(['LoadImage', 'UpscaleModelLoader', 'ImageUpscaleWithModel', 'SaveImage'])), 'upscale');
  assert.equal(graphMode(f(['EmptyLatentImage', 'KSampler'])), 'txt2img');
});

test('generator names in Software / CreatorTool / credit / COM, NovelAI and Midjourney traces', async () => {
  const cases: [Uint8Array, string, RegExp][] = [
    [withSoftware('Adobe Firefly'), 'a.jpg', /Firefly/],
    [jpegWithXmp(jpegBase, xmpPacket([{ prefix: 'xmp', ns: 'http://ns.adobe.com/xap/1.0/', name: 'CreatorTool', value: 'Midjourney' }])), 'a.jpg', /Midjourney/],
    [jpegWithXmp(jpegBase, xmpPacket([{ prefix: 'photoshop', ns: 'http://ns.adobe.com/photoshop/1.0/', name: 'Credit', value: 'Made with Google AI' }])), 'a.jpg', /Google/],
    [pngWithText(pngBase, [{ type: 'tEXt', keyword: 'Software', text: 'NovelAI' }, { type: 'tEXt', keyword: 'Source', text: 'NovelAI Diffusion V4' }]), 'a.png', /NovelAI/],
    [pngWithText(pngBase, [{ type: 'tEXt', keyword: 'Description', text: 'a cat --v 6 Job ID: 0f3c1a2b-1234-4cde-9f00-123456789abc' }]), 'a.png', /Midjourney/],
    [pngWithText(pngBase, [{ type: 'tEXt', keyword: 'Software', text: 'DALL·E 3' }]), 'a.png', /DALL/],
    [withSoftware('即梦AI'), 'a.jpg', /即梦/],
  ];
  for (const [bytes, name, re] of cases) {
    const signals = await gen(bytes, name);
    assert.equal(signals.length, 1, `${re}: ${JSON.stringify(signals.map((s) => s.summary.en))}`);
    assert.equal(signals[0]!.verdict, 'ai_generated', String(re));
    assert.match(signals[0]!.summary.en, re);
  }
});

test('editors → one suspicious signal with a moderate score, naming editor and field', async () => {
  const cases: [Uint8Array, string][] = [
    [withSoftware('Adobe Photoshop 25.0 (Windows)'), 'Adobe Photoshop'],
    [withSoftware('美图秀秀'), 'Meitu'],
    [withSoftware('醒图'), 'Xingtu (Hypic)'],
    [withSoftware('Snapseed 2.0'), 'Snapseed'],
    [withSoftware('Adobe Photoshop Lightroom Classic 13.0 (Windows)'), 'Adobe Lightroom'],
    [jpegWithXmp(jpegBase, xmpPacket([], '   <xmpMM:History xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"><rdf:Seq><rdf:li stEvt:action="saved" stEvt:softwareAgent="PicsArt Photo Studio"/></rdf:Seq></xmpMM:History>\n')), 'PicsArt'],
    [jpegWithExif(jpegBase, { ifd0: { [TAG.Make]: ascii('x') } }, [commentSegment('Created with GIMP')]), 'GIMP'],
    [pngWithText(pngBase, [{ type: 'tEXt', keyword: 'Software', text: 'Canva' }]), 'Canva'],
    [withSoftware('剪映'), 'CapCut / 剪映'],
  ];
  for (const [bytes, editor] of cases) {
    const signals = await gen(bytes, bytes[0] === 0x89 ? 'a.png' : 'a.jpg');
    assert.equal(signals.length, 1, editor);
    const s = signals[0]!;
    assert.equal(s.verdict, 'suspicious', editor);
    assert.equal(s.evidence['editor'], editor);
    assert.ok(s.score >= 0.25 && s.score <= 0.5, `${editor}: moderate score`);
    assert.ok(s.score * s.confidence < 0.5, 'an editor alone never decides the verdict');
  }
});

test('camera firmware, transfer tools and phone OS versions are not flagged', async () => {
  for (const sw of ['Nikon Transfer 1.1 W', 'Version 1.0', 'V113p-73', '14.4.2', 'OLYMPUS CAMEDIA Master', 'Digital Camera DX-10 Ver1.00', 'G930FXXU1DQJ8', 'HDR+ 1.0.345', 'MediaTek Camera Application']) {
    assert.deepEqual(await gen(withSoftware(sw), 'a.jpg'), [], sw);
  }
  assert.deepEqual(await gen(jpegBase, 'a.jpg'), []);
});

test('free text and credits naming products or agencies are not generator traces', async () => {
  const described = jpegWithExif(jpegBase, {
    ifd0: { [TAG.Make]: ascii('Apple'), [TAG.ImageDescription]: ascii('Gemini smartwatch, imagen del producto, Firefly red') },
  });
  assert.deepEqual(await gen(described, 'a.jpg'), []);
  const agency = jpegWithXmp(jpegBase, xmpPacket([{ prefix: 'photoshop', ns: 'http://ns.adobe.com/photoshop/1.0/', name: 'Credit', value: 'Gemini Photo Agency' }]));
  assert.deepEqual(await gen(agency, 'a.jpg'), []);
  // …while a Midjourney job id in the description is specific enough to count.
  const mj = jpegWithExif(jpegBase, { ifd0: { [TAG.ImageDescription]: ascii('cracked vase --ar 4:3 Job ID: 0f3c1a2b-1234-4cde-9f00-123456789abc') } });
  assert.equal((await gen(mj, 'a.jpg'))[0]?.evidence['generator'], 'Midjourney');
});

test('shared fixtures: every ComfyUI PNG → ai_generated naming a model; the input image without chunks → nothing', async () => {
  const files = readdirSync(sharedPath('fixtures', 'generators')).filter((f) => f.endsWith('.png'));
  const manifest = new Map(fixtureManifest().map((e) => [e.file, e]));
  let checked = 0;
  for (const f of files) {
    const file = `generators/${f}`;
    const signals = await gen(readShared('fixtures', file), f);
    if (manifest.get(file)?.facts['generator'] === 'ComfyUI') {
      assert.equal(signals.length, 1, file);
      const s = signals[0]!;
      assert.equal(s.verdict, 'ai_generated', file);
      assert.equal(s.evidence['generator'], 'ComfyUI', file);
      assert.ok((s.evidence['models'] as string[] | undefined)?.length, `${file}: a model is named`);
      checked++;
    } else {
      assert.deepEqual(signals, [], file);
    }
  }
  assert.ok(checked >= 14);
  const mode = async (f: string) => (await gen(readShared('fixtures', 'generators', f), f))[0]!.evidence['mode'];
  assert.equal(await mode('flux_fill_inpaint.png'), 'inpaint');
  assert.equal(await mode('sd2_inpaint_cat.png'), 'inpaint');
  assert.equal(await mode('sd15_img2img_workflow.png'), 'img2img');
  assert.equal(await mode('qwen_image_edit.png'), 'edit');
  assert.equal(await mode('sdxl_turbo.png'), 'txt2img');
});

test('shared fixtures: software_photoshop / software_meitu → editor trace; camera files → nothing', async () => {
  for (const e of fixtureManifest().filter((x) => x.facts['expected']?.editor)) {
    const signals = await gen(readShared('fixtures', e.file), e.file);
    assert.equal(signals.length, 1, e.file);
    assert.equal(signals[0]!.verdict, 'suspicious');
    assert.equal(signals[0]!.evidence['editor'], e.facts['expected'].editor, e.file);
  }
  // orient_1.jpg is a test image saved by Photoshop (XMP CreatorTool): reported, never as AI.
  for (const f of readdirSync(sharedPath('fixtures', 'camera'))) {
    const signals = await gen(readShared('fixtures', 'camera', f), f);
    assert.ok(signals.every((s) => s.verdict === 'suspicious'), f);
    if (f !== 'orient_1.jpg') assert.deepEqual(signals, [], f);
  }
});

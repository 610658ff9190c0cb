/**
 * Size and sha256 of every file of the bag data sets, as the Python baseline's
 * generator (`gen_data.py`, generator version 1) writes them. The TypeScript
 * generator must reproduce them byte for byte.
 * @module
 */

export interface FileFacts {
  readonly bytes: number;
  readonly sha256: string;
}

export const EXPECTED: Readonly<Record<string, FileFacts>> = {
  "logs-00.jsonl": { bytes: 30048500, sha256: "7c8a4aac4ca8246d56c9fea90f18966033e0ae56b0c30f0055b3eef44487e347" },
  "logs-01.jsonl": { bytes: 30045394, sha256: "7eef093c4ccc3d5badeb68a3dd1e45532e6a04cc020c7187f5896cd2f3f73f75" },
  "logs-02.jsonl": { bytes: 30047448, sha256: "8213e483facb37fffda00d4f7f1b5d30145012afe89848458b970a1e57b8622a" },
  "logs-03.jsonl": { bytes: 30050460, sha256: "11cd3352710465522b688e7191969f8e4f7181e80783d754e5ef78e5de88b4eb" },
  "logs-04.jsonl": { bytes: 30046460, sha256: "f148f6ae537b05a225c158e099c63fc3f9e8e39604bbcd172997ba60ebc5de6d" },
  "logs-05.jsonl": { bytes: 30052147, sha256: "e78760e000b7292a1519a8b59568ee95151f94b4ae87f70eee8efae5a39eac51" },
  "logs-06.jsonl": { bytes: 30045532, sha256: "32632675d2af99b48e4d59be4f88cb913129c406e06803d6539bf0314364dbd1" },
  "logs-07.jsonl": { bytes: 30047295, sha256: "4693200f2a30439cab111ac1ecc382ab84ac13cac348259d05aebfb6b4bb26dd" },
  "text-00.txt": { bytes: 25149074, sha256: "37dc90063005b6bd079a9787a1da9b7182bfa23593ac0c6325aae2c40423c669" },
  "text-01.txt": { bytes: 25163845, sha256: "1a640b22bf2d9d7de638100e954cda612745f1c370307221a70d772e7c242b9d" },
  "text-02.txt": { bytes: 25182762, sha256: "93935c0f1c6cfcbcab1104aa3368d36f245f14aa94102a732a197760c5fa61d6" },
  "text-03.txt": { bytes: 25163346, sha256: "4cfc6b9ccece5742c504021a215a645e8e0db4259f0ac61a982d2ed8428fa5b1" },
  "text-04.txt": { bytes: 25161521, sha256: "5006611cb4fee5b147a7ca133c5196e62e57ea5acd48dfccef6319eea7b0de60" },
  "text-05.txt": { bytes: 25145204, sha256: "e438ef6656ac66f7d1ef6841598e4f75eb8e4d2bbaec647378e69ae87e032fcc" },
  "text-06.txt": { bytes: 25165411, sha256: "da08c6def144801f92d04242db14f39223668d7512462c72331659537323d214" },
  "text-07.txt": { bytes: 25180258, sha256: "d82392c16ac37c5b9e3fde114923076d8213430f10e389f4a4dc342f9e27bbb7" },
};

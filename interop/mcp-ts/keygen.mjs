// Makes the P-256 key pair of the private_key_jwt machine client: writes the
// private key (PKCS#8 PEM) to argv[2] and prints the public x and y (base64url)
// for the OAuthClient manifest's jwks.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
writeFileSync(process.argv[2], privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
const jwk = publicKey.export({ format: 'jwk' });
console.log(`${jwk.x} ${jwk.y}`);

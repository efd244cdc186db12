/**
 * A small `strftime(3)` for Mosquitto's `log_timestamp_format` (e.g. `%Y-%m-%dT%H:%M:%S`), in
 * local time as Mosquitto prints it.
 *
 * @module
 */

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function pad(value: number, width = 2, fill = "0"): string {
  return String(value).padStart(width, fill);
}

/**
 * Formats `date` with the common `strftime` conversions: `%Y %y %m %d %e %H %I %M %S %p %j %a %A
 * %b %B %h %F %T %D %R %s %z %Z %n %t %%`. Unknown conversions are copied as they are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { strftime } from "./strftime.ts";
 * const date = new Date(2020, 8, 16, 1, 2, 3);
 * assert.equal(strftime("%Y-%m-%dT%H:%M:%S", date), "2020-09-16T01:02:03");
 * ```
 */
export function strftime(format: string, date: Date): string {
  return format.replace(/%([a-zA-Z%])/g, (match, code: string) => {
    switch (code) {
      case "Y":
        return String(date.getFullYear());
      case "y":
        return pad(date.getFullYear() % 100);
      case "m":
        return pad(date.getMonth() + 1);
      case "d":
        return pad(date.getDate());
      case "e":
        return pad(date.getDate(), 2, " ");
      case "H":
        return pad(date.getHours());
      case "I":
        return pad(date.getHours() % 12 || 12);
      case "M":
        return pad(date.getMinutes());
      case "S":
        return pad(date.getSeconds());
      case "p":
        return date.getHours() < 12 ? "AM" : "PM";
      case "j": {
        const start = new Date(date.getFullYear(), 0, 1);
        return pad(Math.floor((date.getTime() - start.getTime()) / 86_400_000) + 1, 3);
      }
      case "a":
        return DAYS[date.getDay()] as string;
      case "A":
        return ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"][
          date.getDay()
        ] as string;
      case "b":
      case "h":
        return MONTHS[date.getMonth()] as string;
      case "B":
        return new Intl.DateTimeFormat("en", { month: "long" }).format(date);
      case "F":
        return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
      case "T":
        return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
      case "R":
        return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
      case "D":
        return `${pad(date.getMonth() + 1)}/${pad(date.getDate())}/${
          pad(date.getFullYear() % 100)
        }`;
      case "s":
        return String(Math.floor(date.getTime() / 1000));
      case "z": {
        const offset = -date.getTimezoneOffset();
        const sign = offset < 0 ? "-" : "+";
        const abs = Math.abs(offset);
        return `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
      }
      case "Z":
        return new Intl.DateTimeFormat("en", { timeZoneName: "short" })
          .formatToParts(date).find((part) => part.type === "timeZoneName")?.value ?? "";
      case "n":
        return "\n";
      case "t":
        return "\t";
      case "%":
        return "%";
      default:
        return match;
    }
  });
}
